"""Background index optimisation for the archival store.

The embedded engine builds its HNSW index and merges segments only when ``optimize()`` runs, and
that call blocks for as long as it takes. The memory daemon owns a :class:`BackgroundOptimizer`: it
runs ``store.optimize()`` in a worker thread every ``interval_s`` seconds, so no caller ever waits
for it. Searches keep working while it runs (Qdrant swaps optimised segments in atomically).
"""

from __future__ import annotations

import asyncio
import contextlib

from loguru import logger

from hydra_os.lifecycle import Background
from memory.errors import MemoryLayerError
from memory.protocols import ArchivalStore


class BackgroundOptimizer:
    """``async with BackgroundOptimizer(store):`` — periodic ``optimize()``; ``stop()`` is idempotent."""

    def __init__(self, store: ArchivalStore, interval_s: float = 300.0, kick_after: int = 1000) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s: expected a positive number of seconds")
        if kick_after < 1:
            raise ValueError("kick_after: expected a positive number of passages")
        self._store = store
        self._interval = interval_s
        self._kick_after = kick_after
        self._written = 0
        self._tasks = Background("archival-optimizer")
        self._kick = asyncio.Event()
        self.runs = 0

    async def start(self) -> None:
        if not self._tasks:
            self._tasks.spawn(self._loop(), "loop")

    def kick(self) -> None:
        """Run an optimisation soon (e.g. after a large import)."""
        self._kick.set()

    def note_writes(self, n: int) -> None:
        """Count passages written; every ``kick_after`` of them kicks an optimisation."""
        self._written += n
        if self._written >= self._kick_after:
            self._written = 0
            self.kick()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self._interval)
            self._kick.clear()
            try:
                await self._store.optimize()
                self.runs += 1
            except MemoryLayerError as err:
                logger.warning("archival optimise failed: {}", err)

    async def stop(self) -> None:
        await self._tasks.close()

    async def __aenter__(self) -> BackgroundOptimizer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
