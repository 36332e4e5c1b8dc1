"""Native core memory: one JSON file per block (block + full history) in the state dir.

Layout: ``<dir>/<label>.json`` = ``{"version": 1, "block": {...}, "history": [...]}``, each write
atomic (:mod:`memory.core.atomic`), so a ``kill -9`` mid-write leaves the previous version readable.
The daemon holds the state-dir lock, so this process is the only writer; blocks are cached in memory.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from memory.core.atomic import atomic_write, remove_stale_tmp
from memory.core.blocks import BlockBackendBase
from memory.errors import MemoryBackendError
from memory.protocols import Block, BlockEdit
from memory.store_down import restore_hint

FORMAT_VERSION = 1


class NativeCoreMemory(BlockBackendBase):
    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self._cache: dict[str, tuple[Block, list[BlockEdit]]] | None = None

    async def open(self) -> NativeCoreMemory:
        self._cache = await asyncio.to_thread(self._load_all)
        return self

    def _load_all(self) -> dict[str, tuple[Block, list[BlockEdit]]]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            raise MemoryBackendError(f"cannot create core memory dir {self.directory}: {e.strerror}") from e
        remove_stale_tmp(self.directory)
        out: dict[str, tuple[Block, list[BlockEdit]]] = {}
        for path in sorted(self.directory.glob("*.json")):
            block, history = _decode(path)
            out[block.label] = (block, history)
        return out

    def _state(self) -> dict[str, tuple[Block, list[BlockEdit]]]:
        if self._cache is None:
            raise MemoryBackendError("native core memory is not open; call open() first")
        return self._cache

    async def _labels(self) -> list[str]:
        return sorted(self._state())

    async def _read(self, label: str) -> tuple[Block, list[BlockEdit]] | None:
        found = self._state().get(label)
        return (found[0], list(found[1])) if found else None

    async def _write(self, block: Block, history: list[BlockEdit]) -> None:
        state = self._state()
        doc: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "block": block.model_dump(mode="json"),
            "history": [h.model_dump(mode="json", exclude_none=True) for h in history],
        }
        data = json.dumps(doc, ensure_ascii=False, indent=1).encode()
        path = self.directory / f"{block.label}.json"
        try:
            await asyncio.to_thread(atomic_write, path, data)
        except OSError as e:
            raise MemoryBackendError(f"cannot write core block {path}: {e.strerror}") from None
        state[block.label] = (block, list(history))


def _decode(path: Path) -> tuple[Block, list[BlockEdit]]:
    try:
        doc = json.loads(path.read_bytes())
        if doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown format version {doc.get('version')!r}")
        block = Block.model_validate(doc["block"])
        history = [BlockEdit.model_validate(h) for h in doc["history"]]
    except (OSError, ValueError, KeyError, TypeError, ValidationError, AttributeError) as e:
        raise MemoryBackendError(
            f"core block file {path} is unreadable ({str(e).splitlines()[0]}); {restore_hint(path)}"
        ) from None
    if path.stem != block.label:
        raise MemoryBackendError(
            f"core block file {path} holds block {block.label!r}; rename it to {block.label}.json or move it aside"
        )
    return block, history
