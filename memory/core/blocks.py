"""Core-memory block logic shared by every backend: default blocks, edits, limits, rendering.

A backend only reads and writes one block with its history (:class:`BlockBackendBase._read` /
``_write``); validation, the edit rules and history keeping live here, so the native and the Letta
backends behave identically.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from memory.errors import BlockEditError, BlockLimitError, MemoryInputError, MemoryNotFoundError
from memory.protocols import Block, BlockEdit, BlockOp, utcnow

DEFAULT_BLOCKS: tuple[Block, ...] = (
    Block(label="persona", limit=2000, description="Who the assistant is and how it behaves."),
    Block(label="owner", limit=2000, description="Facts about the owner: name, role, context."),
    Block(label="projects", limit=3000, description="The owner's current projects and where each stands."),
    Block(label="preferences", limit=2000, description="How the owner likes things done (key: value lines)."),
)
DEFAULT_ORDER = tuple(b.label for b in DEFAULT_BLOCKS)


def check_limit(label: str, value: str, limit: int) -> None:
    if len(value) > limit:
        over = len(value) - limit
        raise BlockLimitError(
            f"block {label!r} would be {len(value)} characters, over its limit of {limit}: "
            f"trim {over} character{'s' if over != 1 else ''} (or raise the block's limit)"
        )


def apply_append(value: str, text: str) -> str:
    if not text:
        raise MemoryInputError("text: expected non-empty text to append")
    return f"{value}\n{text}" if value else text


def apply_replace(label: str, value: str, old: str, new: str) -> str:
    if not old:
        raise MemoryInputError("old: expected the non-empty exact text to replace")
    if old not in value:
        shown = old if len(old) <= 80 else old[:77] + "..."
        raise BlockEditError(f"block {label!r} does not contain the text {shown!r}; nothing was changed")
    return value.replace(old, new, 1)


def sort_blocks(blocks: Sequence[Block]) -> list[Block]:
    """Defaults first in their fixed order, then the rest by label: a stable prompt order."""

    def key(b: Block) -> tuple[int, str]:
        return (DEFAULT_ORDER.index(b.label) if b.label in DEFAULT_ORDER else len(DEFAULT_ORDER), b.label)

    return sorted(blocks, key=key)


def render_block(block: Block) -> str:
    """One block as it goes into the prompt, with its current/limit size (the Letta layout)."""
    lines = [f"<{block.label}>"]
    if block.description:
        lines.append(f"<description>{block.description}</description>")
    lines.append(
        f"<metadata>chars_current={len(block.value)} chars_limit={block.limit}"
        f"{' read_only=true' if block.read_only else ''}</metadata>"
    )
    lines += ["<value>", block.value, "</value>", f"</{block.label}>"]
    return "\n".join(lines)


def render_blocks(blocks: Sequence[Block]) -> str:
    body = "\n".join(render_block(b) for b in sort_blocks(blocks))
    return f"<memory_blocks>\n{body}\n</memory_blocks>"


class BlockBackendBase(ABC):
    """The CoreMemory Protocol over two primitives a backend provides. Edits are serialised per store."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    # ---- what a backend implements -----------------------------------------------------------
    @abstractmethod
    async def _labels(self) -> list[str]: ...

    @abstractmethod
    async def _read(self, label: str) -> tuple[Block, list[BlockEdit]] | None: ...

    @abstractmethod
    async def _write(self, block: Block, history: list[BlockEdit]) -> None:
        """Persist the block and its full history atomically (all or nothing)."""

    async def close(self) -> None:
        return None

    # ---- the CoreMemory Protocol -----------------------------------------------------------
    async def list_blocks(self) -> list[Block]:
        found = [await self._read(label) for label in await self._labels()]
        return sort_blocks([f[0] for f in found if f is not None])

    async def get_block(self, label: str) -> Block:
        return (await self._require(label))[0]

    async def history(self, label: str) -> list[BlockEdit]:
        return (await self._require(label))[1]

    async def create_block(self, block: Block) -> Block:
        check_limit(block.label, block.value, block.limit)
        async with self._lock:
            if await self._read(block.label) is not None:
                raise BlockEditError(f"block {block.label!r} already exists; edit it instead")
            now = utcnow()
            stored = block.model_copy(update={"updated_at": now})
            await self._write(stored, [BlockEdit(at=now, op="create", value=stored.value)])
            return stored

    async def ensure_blocks(self, blocks: Sequence[Block]) -> None:
        """Create any of ``blocks`` that do not exist yet (the defaults on first start)."""
        for b in blocks:
            if await self._read(b.label) is None:
                try:
                    await self.create_block(b)
                except BlockEditError:
                    pass  # created concurrently

    async def append(self, label: str, text: str) -> Block:
        return await self._edit(label, "append", lambda v: apply_append(v, text), new=text)

    async def replace(self, label: str, old: str, new: str) -> Block:
        return await self._edit(
            label, "replace", lambda v: apply_replace(label, v, old, new), old=old, new=new
        )

    async def rewrite(self, label: str, value: str) -> Block:
        return await self._edit(label, "rewrite", lambda _v: value)

    async def import_block(self, block: Block, history: Sequence[BlockEdit]) -> None:
        check_limit(block.label, block.value, block.limit)
        hist = list(history) or [BlockEdit(at=block.updated_at, op="import", value=block.value)]
        async with self._lock:
            await self._write(block, hist)

    # ---- internals -----------------------------------------------------------------------------
    async def _require(self, label: str) -> tuple[Block, list[BlockEdit]]:
        found = await self._read(label)
        if found is None:
            known = ", ".join(await self._labels()) or "none"
            raise MemoryNotFoundError(f"no core block {label!r} (blocks: {known})")
        return found

    async def _edit(
        self,
        label: str,
        op: BlockOp,
        change: Callable[[str], str],
        *,
        old: str | None = None,
        new: str | None = None,
    ) -> Block:
        async with self._lock:
            block, history = await self._require(label)
            if block.read_only:
                raise BlockEditError(f"block {label!r} is read-only")
            value = change(block.value)
            check_limit(label, value, block.limit)
            now = utcnow()
            updated = block.model_copy(update={"value": value, "updated_at": now})
            await self._write(updated, [*history, BlockEdit(at=now, op=op, value=value, old=old, new=new)])
            return updated
