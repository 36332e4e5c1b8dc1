"""Export and import of all memory as versioned JSON lines.

File layout (one JSON object per line, ``kind`` first)::

    {"kind": "header", "format": "hydra-memory", "version": 1, "exported_at": ..., "embedding_model": ...}
    {"kind": "block", "block": {...}, "history": [...]}            core blocks with full edit history
    {"kind": "passage", "passage": {..., "embedding_model", "vector"}}
    {"kind": "entity", "entity": {...}}   then   {"kind": "relation", "relation": {...}}
    {"kind": "learning", "learning": {...}}
    {"kind": "footer", "counts": {"block": n, "passage": n, "entity": n, "relation": n, "learning": n}}

The export is written to a temporary file and renamed into place, so a failed export never leaves a
half file under the asked name. Import reads the whole file once to validate it (header version,
every line, footer counts) before writing anything, refuses a target that already holds memory, then
restores blocks, passages (vectors reused when the model matches, else re-embedded), graph and
learnings verbatim. Both work on any :class:`MemoryStack`: local stores or the bus service.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError

from memory.core.atomic import fsync_dir
from memory.errors import BackupFormatError, MemoryBackendError
from memory.protocols import (
    Block,
    BlockEdit,
    Entity,
    GraphRecord,
    Learning,
    MemoryStack,
    Passage,
    Relation,
    iter_pages,
    utcnow,
)

FORMAT = "hydra-memory"
VERSION = 1
KINDS = ("block", "passage", "entity", "relation", "learning")
_PLURAL = {"entity": "entities"}


def describe_counts(counts: Mapping[str, int]) -> str:
    """``"4 blocks, 1 passage, 2 entities"``: what an export, import or backup holds, in words."""
    return ", ".join(f"{n} {k if n == 1 else _PLURAL.get(k, k + 's')}" for k, n in counts.items())
Progress = Callable[[str, int], None]


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


async def export_memory(stack: MemoryStack, path: Path, progress: Progress | None = None) -> dict[str, int]:
    """Write everything in ``stack`` to ``path``; returns the count of each kind."""
    counts: Counter[str] = Counter()
    tmp = path.with_name(f".{path.name}.partial")
    out = await asyncio.to_thread(tmp.open, "wb")
    try:

        async def emit(kind: str, obj: dict[str, Any]) -> None:
            await asyncio.to_thread(out.write, _line({"kind": kind, **obj}))
            counts[kind] += 1
            if progress is not None and counts[kind] % 100 == 0:
                progress(kind, counts[kind])

        await emit("header", {
            "format": FORMAT, "version": VERSION, "exported_at": utcnow().isoformat(),
            "embedding_model": stack.archival.embedding_model,
        })
        for b in await stack.core.list_blocks():
            history = await stack.core.history(b.label)
            await emit("block", {"block": b.model_dump(mode="json"),
                                 "history": [h.model_dump(mode="json", exclude_none=True) for h in history]})
        async for p in iter_pages(stack.archival.export_page, 128):
            await emit("passage", {"passage": p.model_dump(mode="json")})
        async for r in iter_pages(stack.graph.export_page, 500):
            if r.entity is not None:
                await emit("entity", {"entity": r.entity.model_dump(mode="json")})
            elif r.relation is not None:
                await emit("relation", {"relation": r.relation.model_dump(mode="json")})
        async for e in iter_pages(stack.learnings.export_page, 500):
            await emit("learning", {"learning": e.model_dump(mode="json")})
        body = {k: counts[k] for k in KINDS}
        await asyncio.to_thread(out.write, _line({"kind": "footer", "counts": body}))
        await asyncio.to_thread(out.flush)
        await asyncio.to_thread(os.fsync, out.fileno())
    except BaseException:
        out.close()
        tmp.unlink(missing_ok=True)
        raise
    out.close()
    await asyncio.to_thread(os.replace, tmp, path)
    await asyncio.to_thread(fsync_dir, path.parent)
    return {k: counts[k] for k in KINDS}


def _decode(path: Path, n: int, raw: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except ValueError:
        raise BackupFormatError(f"{path} line {n}: not JSON; is this a hydra memory export?") from None
    if not isinstance(obj, dict) or "kind" not in obj:
        raise BackupFormatError(f"{path} line {n}: expected an object with a 'kind'")
    return obj


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as e:
        raise BackupFormatError(f"cannot read export file {path}: {e.strerror}") from None


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with _open(path) as f:
        for n, raw in enumerate(f, 1):
            yield n, _decode(path, n, raw)


async def _records_async(path: Path, chunk_bytes: int = 4 << 20) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """The file's records, read in chunks off the event loop (exports can be large)."""
    f = await asyncio.to_thread(_open, path)
    n = 0
    try:
        while lines := await asyncio.to_thread(f.readlines, chunk_bytes):
            for raw in lines:
                n += 1
                yield n, _decode(path, n, raw)
    finally:
        f.close()


def _parse(n: int, obj: dict[str, Any], path: Path) -> Any:
    kind = obj["kind"]
    try:
        if kind == "block":
            return Block.model_validate(obj["block"]), [BlockEdit.model_validate(h) for h in obj["history"]]
        if kind == "passage":
            return Passage.model_validate(obj["passage"])
        if kind == "entity":
            return Entity.model_validate(obj["entity"])
        if kind == "relation":
            return Relation.model_validate(obj["relation"])
        if kind == "learning":
            return Learning.model_validate(obj["learning"])
    except (KeyError, TypeError) as e:
        raise BackupFormatError(f"{path} line {n}: {kind} record lacks {e}") from None
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise BackupFormatError(f"{path} line {n}: {kind} field {field}: {err['msg']}") from None
    raise BackupFormatError(f"{path} line {n}: unknown record kind {kind!r}")


def validate_export(path: Path) -> dict[str, Any]:
    """Check the whole file; returns the header with ``counts``. Raises BackupFormatError naming the line."""
    header: dict[str, Any] | None = None
    counts: Counter[str] = Counter()
    footer: dict[str, Any] | None = None
    for n, obj in _records(path):
        kind = obj["kind"]
        if n == 1:
            if kind != "header" or obj.get("format") != FORMAT:
                raise BackupFormatError(f"{path} line 1: not a hydra memory export (no '{FORMAT}' header)")
            if obj.get("version") != VERSION:
                raise BackupFormatError(
                    f"{path}: export format version {obj.get('version')!r}; this hydra reads {VERSION}"
                )
            header = obj
            continue
        if footer is not None:
            raise BackupFormatError(f"{path} line {n}: data after the footer")
        if kind == "footer":
            footer = obj
            continue
        _parse(n, obj, path)
        counts[kind] += 1
    if header is None:
        raise BackupFormatError(f"{path} is empty")
    if footer is None:
        raise BackupFormatError(f"{path} has no footer: the export was cut short; export again")
    want = {k: int(footer.get("counts", {}).get(k, -1)) for k in KINDS}
    got = {k: counts[k] for k in KINDS}
    if want != got:
        raise BackupFormatError(f"{path}: footer counts {want} do not match the records {got}")
    return {**header, "counts": got}


async def target_is_empty(stack: MemoryStack) -> list[str]:
    """What the target already holds (empty list: safe to import). Untouched default blocks do not count."""
    held = []
    edited = [b.label for b in await stack.core.list_blocks()
              if b.value or len(await stack.core.history(b.label)) > 1]
    if edited:
        held.append(f"core blocks with content: {', '.join(edited)}")
    if n := await stack.archival.count():
        held.append(f"{n} passages")
    counts = await stack.graph.counts()
    if any(counts.values()):
        held.append(f"graph {counts}")
    if learnings := await stack.learnings.list_learnings(limit=1):
        held.append(f"learnings (last {learnings[-1].id})")
    return held


async def import_memory(stack: MemoryStack, path: Path, progress: Progress | None = None) -> dict[str, int]:
    """Restore ``path`` into an empty ``stack``; returns the count of each kind restored."""
    header = await asyncio.to_thread(validate_export, path)
    held = await target_is_empty(stack)
    if held:
        raise BackupFormatError(f"the import target is not empty ({'; '.join(held)}); import into a fresh state dir")
    counts: Counter[str] = Counter()
    batch: list[Any] = []
    batch_kind = ""

    async def flush() -> None:
        nonlocal batch
        if not batch:
            return
        try:
            if batch_kind == "passage":
                await stack.archival.import_passages(batch)
            elif batch_kind in ("entity", "relation"):
                await stack.graph.import_records(
                    [GraphRecord(entity=x) if batch_kind == "entity" else GraphRecord(relation=x) for x in batch]
                )
            elif batch_kind == "learning":
                await stack.learnings.import_learnings(batch)
        except MemoryBackendError as e:
            raise MemoryBackendError(f"import stopped after {dict(counts)}: {e}") from e
        counts[batch_kind] += len(batch)
        if progress is not None:
            progress(batch_kind, counts[batch_kind])
        batch = []

    async for n, obj in _records_async(path):
        kind = obj["kind"]
        if kind in ("header", "footer"):
            continue
        item = _parse(n, obj, path)
        if kind == "block":
            await stack.core.import_block(*item)
            counts["block"] += 1
            continue
        if kind != batch_kind or len(batch) >= 128:
            await flush()
            batch_kind = kind
        batch.append(item)
    await flush()
    result = {k: counts[k] for k in KINDS}
    if result != header["counts"]:
        raise MemoryBackendError(f"import wrote {result}, expected {header['counts']}")
    return result
