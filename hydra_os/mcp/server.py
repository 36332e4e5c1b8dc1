"""The MCP server, defined once for both transports (stdio and streamable HTTP).

Tools take typed arguments (the SDK builds their JSON schemas from the annotations and validates
calls against them, naming the field); a Hydra error in a call becomes a tool error with its one-line
message. There is no approve/deny tool: only the owner decides approvals.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import AwareDatetime, Field, ValidationError

from hydra_os import __version__
from hydra_os.errors import HydraError
from hydra_os.intake.model import RequestIn
from hydra_os.mcp.hub import ACTOR, Hub
from hydra_os.policy.approvals import OPEN_STATES
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.model import TaskSpec
from memory.context import ContextBuilder
from memory.extract import MemoryWriter
from memory.protocols import LearningIn, SearchFilters
from memory.wiring import make_extractor

Tags = Annotated[list[str], Field(description="Tags; a search hit carries every one.")]
EditOp = Literal["append", "replace", "rewrite"]
INSTRUCTIONS = (
    "Hydra OS, the owner's homelab AI: long-term memory (core blocks, archival passages, knowledge graph, "
    "learnings), the task queue and the owner's request path. Read the session_context prompt first. "
    "Side effects pass the owner's autonomy policy; some wait for the owner's approval."
)


def _field_message(e: ValidationError) -> str:
    err = e.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"


@contextlib.contextmanager
def _tool_errors() -> Iterator[None]:
    """A deliberate Hydra error (bad input, not found, memory down) is the tool's error message."""
    try:
        yield
    except HydraError as e:
        raise ToolError(str(e)) from None
    except ValidationError as e:
        raise ToolError(_field_message(e)) from None


def build_server(hub: Hub) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(name="hydra", version=__version__, instructions=INSTRUCTIONS)
    _memory_tools(server, hub)
    _task_tools(server, hub)
    _resources(server, hub)
    _prompts(server, hub)
    return server


def _memory_tools(server: MCPServer[Any], hub: Hub) -> None:
    extractor = make_extractor(hub.settings.memory.extract)

    @server.tool()
    async def memory_search(
        query: Annotated[str, Field(min_length=1, description="What to look for, in words.")],
        k: Annotated[int, Field(ge=1, le=100, description="How many passages.")] = 10,
        tags: Tags | None = None,
        source: Annotated[str | None, Field(description="Only passages from this source.")] = None,
        since: Annotated[AwareDatetime | None, Field(description="Passages at or after (ISO 8601, zone).")] = None,
        until: Annotated[AwareDatetime | None, Field(description="Passages before (ISO 8601, zone).")] = None,
    ) -> list[dict[str, Any]]:
        """Search the archival memory (hybrid vector + keyword); passages with ids, sources and times."""
        with _tool_errors():
            filters = SearchFilters(tags=tags or [], source=source, since=since, until=until)
            hits = await hub.memory.archival.search(query, limit=k, filters=filters)
        return [{"id": h.passage.id, "text": h.passage.text, "source": h.passage.source, "tags": h.passage.tags,
                 "at": h.passage.created_at.isoformat(), "score": h.score} for h in hits]

    @server.tool()
    async def remember(
        text: Annotated[str, Field(min_length=1, max_length=100_000, description="What to remember.")],
        tags: Tags | None = None,
        source: Annotated[str, Field(min_length=1, max_length=64, description="Where it comes from.")] = ACTOR,
    ) -> dict[str, Any]:
        """Store a passage in archival memory (and the facts it states, when a model is configured)."""
        with _tool_errors():
            writer = MemoryWriter(hub.memory, extractor, owner=hub.settings.owner.name)
            done = await writer.remember(text, source=source, tags=tags or [])
        return done.model_dump(mode="json")

    @server.tool()
    async def core_memory_read(
        label: Annotated[str | None, Field(description="One block, e.g. owner, projects; default all.")] = None,
    ) -> list[dict[str, Any]]:
        """Core memory blocks (always in the prompt): value, limit in characters, read-only flag."""
        with _tool_errors():
            core = hub.memory.core
            blocks = [await core.get_block(label)] if label else await core.list_blocks()
        return [b.model_dump(mode="json") for b in blocks]

    @server.tool()
    async def core_memory_edit(
        label: Annotated[str, Field(min_length=1, description="The block to edit.")],
        op: Annotated[EditOp, Field(description="append text; replace old with text; rewrite the whole block.")],
        text: Annotated[str, Field(description="Text to append, the replacement, or the new value.")],
        old: Annotated[str | None, Field(description="replace: the exact text to replace.")] = None,
    ) -> dict[str, Any]:
        """Edit a core block; its character limit and read-only flag are enforced by the store."""
        if op == "replace" and not old:
            raise ToolError("old: required for op 'replace' (the exact text to replace)")
        with _tool_errors():
            core = hub.memory.core
            if op == "append":
                block = await core.append(label, text)
            elif op == "replace":
                block = await core.replace(label, old or "", text)
            else:
                block = await core.rewrite(label, text)
        return block.model_dump(mode="json")

    @server.tool()
    async def graph_facts(
        about: Annotated[str, Field(min_length=1, description="An entity's name, e.g. a person or project.")],
        at: Annotated[AwareDatetime | None, Field(description="Facts valid at this time (ISO 8601 with zone).")] = None,
    ) -> list[dict[str, Any]]:
        """Facts (relations) about an entity from the knowledge graph, current or as of ``at``."""
        with _tool_errors():
            facts = await hub.memory.graph.facts_about(about, at=at)
        return [f.model_dump(mode="json") for f in facts]

    @server.tool()
    async def learnings_add(
        context: Annotated[str, Field(min_length=1, description="What happened.")],
        learning: Annotated[str, Field(min_length=1, description="What was learned.")],
        apply: Annotated[str, Field(description="How to apply it next time.")] = "",
        tags: Tags | None = None,
    ) -> dict[str, Any]:
        """Record a learning (context, lesson, how to apply it) in the learnings log."""
        with _tool_errors():
            entry = LearningIn(context=context, learning=learning, apply=apply, tags=tags or [], source=ACTOR)
            done = await hub.memory.learnings.add(entry)
        return done.model_dump(mode="json")

    @server.tool()
    async def learnings_search(
        query: Annotated[str, Field(min_length=1, description="What to look for.")],
        k: Annotated[int, Field(ge=1, le=50, description="How many learnings.")] = 5,
    ) -> list[dict[str, Any]]:
        """Search the learnings log."""
        with _tool_errors():
            found = await hub.memory.learnings.search(query, limit=k)
        return [x.model_dump(mode="json") for x in found]


def _task_tools(server: MCPServer[Any], hub: Hub) -> None:
    @server.tool()
    async def ask(
        text: Annotated[str, Field(min_length=1, max_length=100_000, description="The request in words.")],
        dry_run: Annotated[bool, Field(description="Only say what would be done.")] = False,
    ) -> dict[str, Any]:
        """The owner's request path: Hydra answers, queues, runs, acts (through the policy) or asks back."""
        with _tool_errors():
            req = RequestIn(text=text, dry_run=dry_run)
            return await hub.ask(req.model_dump(mode="json", exclude_none=True))

    @server.tool()
    async def queue_task(
        kind: Annotated[str, Field(min_length=1, description="Task kind, e.g. research.topic, diag.echo.")],
        params: Annotated[dict[str, Any] | None, Field(description="The kind's parameters.")] = None,
        window: Annotated[Literal["overnight"] | None, Field(description="Only run inside this window.")] = None,
    ) -> dict[str, Any]:
        """Queue a task (the same queue and checks as POST /v1/tasks)."""
        with _tool_errors():
            spec = TaskSpec(kind=kind, params=params or {}, window=window, source=ACTOR)
            res = await hub.queue().enqueue(spec)
        return res.model_dump(mode="json")

    @server.tool()
    async def task_status(
        id: Annotated[str, Field(min_length=1, max_length=200, description="The task id.")],
    ) -> dict[str, Any]:
        """One task: state, result or error, history and step checkpoints."""
        with _tool_errors():
            q = hub.queue()
            task = await q.get(id)
            steps = await CheckpointStore(q.store, id).all()
        return {"task": task.model_dump(mode="json"),
                "checkpoints": [c.model_dump(mode="json") for c in sorted(steps.values(), key=lambda c: c.finished_at)]}

    @server.tool()
    async def approvals_list(
        all: Annotated[bool, Field(description="Include decided and expired ones.")] = False,
    ) -> list[dict[str, Any]]:
        """Approvals waiting for the owner (read-only: agents cannot approve or deny)."""
        with _tool_errors():
            recs = await (await hub.approvals()).list(None if all else OPEN_STATES)
        return [r.model_dump(mode="json") for r in recs]


def _resources(server: MCPServer[Any], hub: Hub) -> None:
    @server.resource("hydra://core/{label}", mime_type="text/plain", description="A core memory block")
    async def core_block(label: str) -> str:
        try:
            return (await hub.memory.core.get_block(label)).value
        except HydraError as e:
            raise ResourceError(str(e)) from None

    @server.resource("hydra://projects", mime_type="text/plain", description="The owner's projects (core block)")
    async def projects() -> str:
        return await core_block("projects")

    @server.resource("hydra://briefing/latest", mime_type="application/json", description="The latest briefing")
    async def briefing() -> dict[str, Any]:
        kind = hub.settings.tasks.scheduler.briefing_kind
        try:
            done = [t for t in await hub.queue().list_tasks(include_finished=True)
                    if t.kind == kind and t.state == "succeeded"]
        except HydraError as e:
            raise ResourceError(str(e)) from None
        if not done:
            raise ResourceError(f"no briefing has been made yet (task kind {kind})")
        last = max(done, key=lambda t: t.finished_at or 0)
        return {"task_id": last.id, "finished_at": last.finished_at, "result": last.result}


def _prompts(server: MCPServer[Any], hub: Hub) -> None:
    @server.prompt()
    async def session_context(
        focus: Annotated[str, Field(description="What the session is about (a project, a task).")] = "",
        budget: Annotated[int | None, Field(ge=50, le=100_000, description="Token budget.")] = None,
    ) -> str:
        """What a coding agent should know at start: owner, projects, preferences, recent learnings."""
        query = f"{focus} owner projects preferences recent learnings".strip()
        with _tool_errors():
            built = await ContextBuilder(hub.memory, hub.settings.memory.context).build(query, budget=budget)
        return built.render()
