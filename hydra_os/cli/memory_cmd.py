"""``hydra memory ...``: core blocks, remember, search, graph, learnings, explain, export/import, reindex.

By default every command talks to the cluster's memory service over the bus (any node works).
``--offline`` opens the stores in this node's state dir directly instead; the daemon must not be
running on it (its state-dir lock is taken), e.g. to import a backup into a fresh state dir.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from hydra_os.cli.common import cli_bus, console, fail, state
from hydra_os.config import Settings
from hydra_os.errors import HydraError
from hydra_os.lockfile import StateLock
from hydra_os.node.rpc_params import first_problem
from memory.backup import describe_counts, export_memory, import_memory, validate_export
from memory.client import MemoryClient
from memory.conversation import assemble
from memory.extract import MemoryWriter
from memory.protocols import LearningIn, SearchFilters
from memory.wiring import ContextRequest, make_extractor, open_local

T = TypeVar("T")
app = typer.Typer(help="Memory: core blocks, archival search, knowledge graph, learnings.", no_args_is_help=True)
core_app = typer.Typer(help="Core memory blocks (always in the prompt).", no_args_is_help=True)
graph_app = typer.Typer(help="The knowledge graph.", no_args_is_help=True)
learn_app = typer.Typer(help="The learnings log.", no_args_is_help=True)
app.add_typer(core_app, name="core")
app.add_typer(graph_app, name="graph")
app.add_typer(learn_app, name="learnings")

Offline = Annotated[bool, typer.Option("--offline", help="Open this node's stores directly (daemon stopped).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@dataclass
class Mem:
    """What a command works with: the stack, and (online) the bus client, (offline) the embedder."""

    stack: Any
    settings: Settings
    client: Any = None
    embedder: Any = None


def _run(ctx: typer.Context, offline: bool, fn: Callable[[Mem], Awaitable[T]], *, defaults: bool = True) -> T:
    settings = state(ctx).settings()

    async def online() -> T:
        async with cli_bus(settings) as bus:
            client = await MemoryClient(bus, timeout=settings.memory.service.request_timeout_s).open()
            return await fn(Mem(client.stack(), settings, client=client))

    async def local() -> T:
        settings.node.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = StateLock(settings.node.state_dir)
        lock.acquire()
        try:
            mem = await open_local(settings.memory, settings.node.state_dir, create_defaults=defaults)
            try:
                return await fn(Mem(mem.stack, settings, embedder=mem.embedder))
            finally:
                await mem.close()
        finally:
            lock.release()

    try:
        return asyncio.run(local() if offline else online())
    except HydraError as e:
        fail(e)
    except ValidationError as e:  # what a memory model refuses (an empty text, ...): the owner's mistake
        fail("{}: {}".format(*first_problem(e)))


def _aware(ctx: typer.Context, value: str | None, name: str) -> datetime | None:
    """An ISO date/time from the command line; without a zone it is in the owner's time zone."""
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{name}: expected an ISO date or time such as 2025-03-01 or 2025-03-01T12:00+01:00, got {value!r}")
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(state(ctx).settings().owner.timezone))
    return t


def _print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


# ---------------------------------------------------------------------------------------------- core


@core_app.command("show")
def core_show(
    ctx: typer.Context,
    label: Annotated[str | None, typer.Argument(help="One block (default: all, as rendered in the prompt).")] = None,
    history: Annotated[bool, typer.Option("--history", help="Show the block's edit history.")] = False,
    as_json: AsJson = False,
    offline: Offline = False,
) -> None:
    """Show core blocks with their sizes, or one block (and its history)."""

    async def go(m: Mem) -> Any:
        if label is None:
            return await m.stack.core.list_blocks(), None
        return [await m.stack.core.get_block(label)], (await m.stack.core.history(label) if history else None)

    blocks, hist = _run(ctx, offline, go)
    if as_json:
        _print_json({"blocks": [b.model_dump(mode="json") for b in blocks],
                     **({"history": [h.model_dump(mode="json") for h in hist]} if hist else {})})
        return
    for b in blocks:
        flag = " read-only" if b.read_only else ""
        console.print(f"[bold]{b.label}[/] ({len(b.value)}/{b.limit} chars{flag}) — {b.description}",
                      highlight=False)
        console.print(b.value or "[dim](empty)[/]", markup=not b.value, highlight=False)
        console.print()
    for h in hist or []:
        extra = f" {h.old!r} -> {h.new!r}" if h.op == "replace" else (f" +{h.new!r}" if h.op == "append" else "")
        console.print(f"{h.at:%Y-%m-%d %H:%M:%S} {h.op}{extra} ({len(h.value)} chars)", highlight=False,
                      markup=False)


@core_app.command("edit")
def core_edit(
    ctx: typer.Context,
    label: Annotated[str, typer.Argument(help="Block label, e.g. owner.")],
    append: Annotated[str | None, typer.Option("--append", help="Text to add on a new line.")] = None,
    replace: Annotated[str | None, typer.Option("--replace", help="Exact text to replace (with --with).")] = None,
    with_: Annotated[str | None, typer.Option("--with", help="Replacement for --replace.")] = None,
    rewrite: Annotated[str | None, typer.Option("--rewrite", help="New value of the whole block.")] = None,
    offline: Offline = False,
) -> None:
    """Edit a block: --append TEXT, --replace OLD --with NEW, or --rewrite TEXT (exactly one)."""
    chosen = [x for x in (append, replace, rewrite) if x is not None]
    if len(chosen) != 1:
        fail("give exactly one of --append, --replace (with --with) or --rewrite")
    if (replace is None) != (with_ is None):
        fail("--replace and --with go together: --replace 'old text' --with 'new text'")

    async def go(m: Mem) -> Any:
        if append is not None:
            return await m.stack.core.append(label, append)
        if replace is not None and with_ is not None:
            return await m.stack.core.replace(label, replace, with_)
        return await m.stack.core.rewrite(label, rewrite or "")

    b = _run(ctx, offline, go)
    console.print(f"{b.label}: {len(b.value)}/{b.limit} chars", highlight=False)


# ------------------------------------------------------------------------------------- remember/search


@app.command("remember")
def remember(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to remember.")],
    source: Annotated[str, typer.Option(help="Where it comes from.")] = "owner",
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag (repeatable).")] = None,
    session: Annotated[str | None, typer.Option(help="Session id.")] = None,
    fact: Annotated[
        tuple[str, str, str] | None,
        typer.Option("--fact", help="Also record a structured fact: SUBJECT RELATION OBJECT (no model needed)."),
    ] = None,
    no_extract: Annotated[bool, typer.Option("--no-extract", help="Skip LLM extraction.")] = False,
    offline: Offline = False,
) -> None:
    """Store a passage in archival memory (and a fact, or what the configured model extracts)."""

    async def go(m: Mem) -> Any:
        extractor = None if no_extract else make_extractor(m.settings.memory.extract)
        try:
            writer = MemoryWriter(m.stack, extractor, owner=m.settings.owner.name)
            done = await writer.remember(text, source=source, tags=list(tag or []), session=session)
            rel = await writer.record_fact(*fact, source=done.passage.id) if fact else None
            return done, rel
        finally:
            if extractor is not None:
                await extractor.close()

    done, rel = _run(ctx, offline, go)
    p = done.passage
    what = {"added": "stored", "duplicate": "already stored", "linked": f"stored, linked to {p.linked_to}"}
    console.print(f"passage {p.id}: {what[p.status]}", highlight=False)
    if rel is not None:
        console.print(f"fact {rel.id}: {rel.subject} {rel.type} {rel.object}", highlight=False, markup=False)
    if done.extraction == "done":
        console.print(f"extracted {len(done.relations)} facts", highlight=False)
    elif done.extraction == "skipped":
        console.print(f"[yellow]extraction skipped:[/] {done.note}", highlight=False)


@app.command("search")
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many results.")] = 10,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Only passages with this tag.")] = None,
    source: Annotated[str | None, typer.Option(help="Only passages from this source.")] = None,
    since: Annotated[str | None, typer.Option(help="Created at or after (ISO date/time).")] = None,
    until: Annotated[str | None, typer.Option(help="Created before (ISO date/time).")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, vector or bm25.")] = "hybrid",
    as_json: AsJson = False,
    offline: Offline = False,
) -> None:
    """Search archival memory (hybrid vector + BM25 by default)."""

    if mode not in ("hybrid", "vector", "bm25"):
        fail(f"--mode: expected hybrid, vector or bm25, got {mode!r}")
    filters = SearchFilters(tags=list(tag or []), source=source, since=_aware(ctx, since, "--since"),
                            until=_aware(ctx, until, "--until"))

    async def go(m: Mem) -> Any:
        return await m.stack.archival.search(query, limit=limit, filters=filters, mode=mode)

    hits = _run(ctx, offline, go)
    if as_json:
        _print_json([h.model_dump(mode="json") for h in hits])
        return
    table = Table("#", "score", "created", "source", "text", "id")
    for n, h in enumerate(hits, 1):
        p = h.passage
        table.add_row(str(n), f"{h.score:.4f}", f"{p.created_at:%Y-%m-%d}", p.source,
                      p.text if len(p.text) < 160 else p.text[:157] + "...", p.id)
    console.print(table if hits else "no passages match")


# ------------------------------------------------------------------------------------------------ graph


def _fact_rows(facts: list[Any]) -> Table:
    table = Table("subject", "relation", "object", "valid from", "valid to", "conf.", "id")
    for f in facts:
        table.add_row(f.subject, f.type, f.object, f"{f.valid_from:%Y-%m-%d %H:%M}",
                      f"{f.valid_to:%Y-%m-%d %H:%M}" if f.valid_to else "(current)", f"{f.confidence:.2f}", f.id)
    return table


@graph_app.command("facts")
def graph_facts(
    ctx: typer.Context,
    entity: Annotated[str, typer.Argument(help="Entity name or alias.")],
    at: Annotated[str | None, typer.Option(help="Only facts valid at this time (ISO).")] = None,
    as_json: AsJson = False,
    offline: Offline = False,
) -> None:
    """Facts about an entity (all of them, or those valid --at a time)."""
    when = _aware(ctx, at, "--at")

    async def go(m: Mem) -> Any:
        return await m.stack.graph.facts_about(entity, when)

    facts = _run(ctx, offline, go)
    if as_json:
        _print_json([f.model_dump(mode="json") for f in facts])
        return
    console.print(_fact_rows(facts) if facts else f"no facts about {entity}")


@graph_app.command("neighbours")
def graph_neighbours(
    ctx: typer.Context,
    entity: Annotated[str, typer.Argument(help="Entity name or alias.")],
    depth: Annotated[int, typer.Option(min=1, max=3, help="Hops (1-3).")] = 2,
    as_json: AsJson = False,
    offline: Offline = False,
) -> None:
    """Entities within --depth hops over current facts."""

    async def go(m: Mem) -> Any:
        return await m.stack.graph.neighbours(entity, depth)

    found = _run(ctx, offline, go)
    if as_json:
        _print_json([n.model_dump(mode="json") for n in found])
        return
    table = Table("entity", "type", "hops", "via")
    for n in found:
        table.add_row(n.entity.name, n.entity.type, str(n.distance), " -> ".join(n.via))
    console.print(table if found else f"{entity} has no neighbours")


# -------------------------------------------------------------------------------------------- learnings


@learn_app.command("add")
def learnings_add(
    ctx: typer.Context,
    context: Annotated[str, typer.Option("--context", help="What happened.")],
    learning: Annotated[str, typer.Option("--learning", help="What was learned.")],
    apply: Annotated[str, typer.Option("--apply", help="How to apply it next time.")] = "",
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag (repeatable).")] = None,
    offline: Offline = False,
) -> None:
    """Append a learning (never edited or removed later)."""

    try:
        entry = LearningIn(context=context, learning=learning, apply=apply, tags=list(tag or []))
    except ValidationError as e:
        fail("{}: {}".format(*first_problem(e)))

    async def go(m: Mem) -> Any:
        return await m.stack.learnings.add(entry)

    got = _run(ctx, offline, go)
    console.print(f"{got.id} recorded", highlight=False)


@learn_app.command("list")
def learnings_list(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the newest N.")] = None,
    search_: Annotated[str | None, typer.Option("--search", "-s", help="Best matches for this text instead.")] = None,
    as_json: AsJson = False,
    offline: Offline = False,
) -> None:
    """List learnings (oldest first), or search them."""

    async def go(m: Mem) -> Any:
        if search_:
            return await m.stack.learnings.search(search_, limit=limit or 5)
        return await m.stack.learnings.list_learnings(limit=limit)

    entries = _run(ctx, offline, go)
    if as_json:
        _print_json([e.model_dump(mode="json") for e in entries])
        return
    table = Table("id", "date", "context", "learning", "apply")
    for e in entries:
        table.add_row(e.id, f"{e.date:%Y-%m-%d}", e.context, e.learning, e.apply)
    console.print(table if entries else "no learnings")


# ---------------------------------------------------------------------------------------------- explain


@app.command("explain")
def explain(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="The request to assemble memory for.")],
    budget: Annotated[int | None, typer.Option(min=50, help="Token budget (default: memory.context).")] = None,
    text: Annotated[bool, typer.Option("--text", help="Also print the text that goes into the prompt.")] = False,
    as_json: AsJson = False,
    offline: Offline = False,
) -> None:
    """Show what memory would go into the prompt for QUERY, and why (the ids of an x-hydra-memory header)."""
    try:  # the request model of POST /v1/memory/context: the same checks, before anything is opened
        req = ContextRequest(query=query, budget=budget)
    except ValidationError as e:
        fail("{}: {}".format(*first_problem(e)))

    async def go(m: Mem) -> Any:
        return await assemble(m.stack, m.settings.memory.context, req.query, budget=req.budget,
                              deadline_s=m.settings.memory.service.request_timeout_s * 3)

    built = _run(ctx, offline, go)
    if as_json:
        _print_json({**built.model_dump(mode="json"), "text": built.render()})
        return
    console.print(f"[bold]{built.used}/{built.budget}[/] tokens; entities mentioned: "
                  f"{', '.join(built.entities) or 'none'}", highlight=False)
    table = Table("#", "kind", "id", "tokens", "score", "why")
    for n, i in enumerate(built.items, 1):
        table.add_row(str(n), i.kind, i.id, str(i.tokens), "" if i.score is None else f"{i.score:.3f}", i.why)
    console.print(table)
    if built.dropped:
        console.print(f"[yellow]left out ({len(built.dropped)}):[/]")
        for i in built.dropped:
            console.print(f"  {i.id} ({i.tokens} tokens): {i.why}", highlight=False, markup=False)
    for w in built.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if text:
        console.print(built.render(), markup=False, highlight=False)


# ------------------------------------------------------------------------------------ export / import


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True)


@app.command("export")
def export(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="File to write (JSON lines).", dir_okay=False)],
    offline: Offline = False,
) -> None:
    """Export all memory (blocks with history, passages, graph, learnings) as versioned JSONL."""

    if path.exists():
        fail(f"{path} exists; choose a new file name (an export never overwrites)")
    with _progress() as bar:
        task = bar.add_task("exporting")

        async def go(m: Mem) -> Any:
            return await export_memory(m.stack, path, lambda k, n: bar.update(task, description=f"{k}: {n}"))

        counts = _run(ctx, offline, go)
    console.print(f"exported to {path}: " + describe_counts(counts), highlight=False)


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An export file.", exists=True, dir_okay=False)],
    offline: Offline = False,
) -> None:
    """Restore an export into empty memory (a fresh state dir; --offline before the first start)."""

    try:
        header = validate_export(path)
    except HydraError as e:
        fail(e)
    with _progress() as bar:
        task = bar.add_task("importing")

        async def go(m: Mem) -> Any:
            return await import_memory(m.stack, path, lambda k, n: bar.update(task, description=f"{k}: {n}"))

        counts = _run(ctx, offline, go, defaults=False)
    console.print(f"imported {path} (exported {header['exported_at']}): "
                  + describe_counts(counts), highlight=False)


@app.command("reindex")
def reindex(ctx: typer.Context, offline: Offline = False) -> None:
    """Re-embed every passage with the memory node's configured embedding model."""
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("re-embedding passages", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        async def go(m: Mem) -> Any:
            if m.client is not None:
                return await m.stack.archival.reindex_configured(progress), m.client.embedding_model
            return await m.stack.archival.reindex(m.embedder, progress), m.embedder.model

        n, model = _run(ctx, offline, go)
    console.print(f"reindexed {n} passages with {model}", highlight=False)


@app.command("status")
def status(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Each memory store's state (ok, or down with the damaged file and how to restore it)."""

    async def go(m: Mem) -> Any:
        return await m.client.call("info")

    info = _run(ctx, False, go)
    if as_json:
        _print_json(info)
        return
    console.print(f"memory node {info['node']}, embedding model {info['embedding_model'] or '-'}", highlight=False)
    for name, st in info["stores"].items():
        line = f"  {name}: {st['state']}" + (f" — {st['error']}" if st.get("error") else "")
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if info.get("optimisation"):
        console.print(f"  archival index optimisation: {info['optimisation']}", highlight=False, markup=False)
