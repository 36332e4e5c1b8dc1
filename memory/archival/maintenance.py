"""Background index optimisation for the archival store, giving way to the owner.

The embedded engine builds its HNSW index and merges segments only when ``optimize()`` runs, and
that call blocks for as long as it takes. The memory daemon owns a :class:`BackgroundOptimizer`: it
runs ``store.optimize()`` in a worker thread every ``interval_s`` seconds or when kicked, so no
caller ever waits for it.

The owner's reads and writes win: one that arrives during a run ends it (see
:mod:`memory.archival.edge`). An interrupted run is retried only once the store has had no read or
write for ``quiet_s`` seconds, and that quiet doubles with each interruption in a row (up to
``max_quiet_s``), so steady traffic never restarts it in a loop: it waits for a lull. Its state,
e.g. ``deferred, 3 interruptions in a row, last completed at ...``, is in :meth:`summary` (the
memory node's status and ``hydra memory status``), and the third interruption in a row is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from loguru import logger

from hydra_os.lifecycle import Background
from memory.errors import MemoryLayerError
from memory.protocols import ArchivalStore, OptimiseOutcome

WARN_AFTER = 3  # interruptions in a row that are logged as a warning: the index lags behind the writes


class BackgroundOptimizer:
    """``async with BackgroundOptimizer(store):`` — periodic ``optimize()``; ``stop()`` is idempotent."""

    def __init__(self, store: ArchivalStore, interval_s: float = 300.0, kick_after: int = 1000,
                 quiet_s: float = 30.0, max_quiet_s: float = 1800.0) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s: expected a positive number of seconds")
        if kick_after < 1:
            raise ValueError("kick_after: expected a positive number of passages")
        if quiet_s <= 0 or max_quiet_s < quiet_s:
            raise ValueError("quiet_s, max_quiet_s: expected 0 < quiet_s <= max_quiet_s seconds")
        self._store = store
        self._interval = interval_s
        self._kick_after = kick_after
        self._quiet = quiet_s
        self._max_quiet = max_quiet_s
        self._written = 0
        self._tasks = Background("archival-optimizer")
        self._kick = asyncio.Event()
        self.runs = 0  # completed optimisations
        self.interruptions = 0  # runs in a row that gave way to the owner's calls (0 once one completes)
        self.running = False
        self.last_completed: datetime | None = None

    async def start(self) -> None:
        if not self._tasks:
            self._tasks.spawn(self._loop(), "loop")

    def kick(self) -> None:
        """Run an optimisation soon (e.g. after a large import); a retry owed still waits for quiet."""
        self._kick.set()

    def note_writes(self, n: int) -> None:
        """Count passages written; every ``kick_after`` of them kicks an optimisation."""
        self._written += n
        if self._written >= self._kick_after:
            self._written = 0
            self.kick()

    def quiet_needed(self) -> float:
        """Seconds without reads or writes the next run waits for: none for a fresh run, after an
        interruption ``quiet_s`` doubled per interruption in a row, at most ``max_quiet_s``."""
        if not self.interruptions:
            return 0.0
        return float(min(self._quiet * 2 ** min(self.interruptions - 1, 30), self._max_quiet))

    def summary(self) -> str:
        """One line for the memory status: ``idle``/``running``/``deferred, N interruptions in a row``."""
        if self.running:
            state = "running"
        elif self.interruptions:
            state = (f"deferred, {self.interruptions} interruption{'s' if self.interruptions > 1 else ''} "
                     f"in a row (runs after {self.quiet_needed():.0f}s without reads or writes)")
        else:
            state = "idle"
        done = self.last_completed.isoformat(timespec="seconds") if self.last_completed else "never"
        return f"{state}, last completed at {done}"

    async def _turn(self) -> None:
        """Until the next run is due: a kick or the interval, or while a retry is owed, a poll for quiet."""
        need = self.quiet_needed()
        if need:
            await asyncio.sleep(need / 2)  # the store answers DEFERRED until it has been quiet for `need`
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), self._interval)

    async def _loop(self) -> None:
        while True:
            await self._turn()
            self._kick.clear()  # kicks so far are served by this run
            self.running = True
            try:
                outcome = await self._store.optimize(self.quiet_needed())
            except MemoryLayerError as err:
                logger.warning("archival optimise failed: {}", err)
                continue
            finally:
                self.running = False
            self._record(outcome)

    def _record(self, outcome: OptimiseOutcome) -> None:
        if outcome is OptimiseOutcome.YIELDED:
            self.interruptions += 1
            log = logger.warning if self.interruptions == WARN_AFTER else logger.info
            log("archival optimise: gave way to reads/writes; {}", self.summary())
        elif outcome is not OptimiseOutcome.DEFERRED:
            self.runs += 1
            self.interruptions = 0
            self.last_completed = datetime.now(UTC)

    async def stop(self) -> None:
        await self._tasks.close()

    async def __aenter__(self) -> BackgroundOptimizer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
