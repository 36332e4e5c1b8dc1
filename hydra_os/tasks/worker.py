"""The worker component (role ``worker``): pulls tasks by priority, runs them, releases due pending tasks.

Loop: while slots are free, pull (``no_wait``) from the urgent consumer, then high, normal, low; start an
:class:`~hydra_os.tasks.execution.Execution` per message. When nothing is there, sleep until a doorbell
(any publish on ``hydra.tasks.>``), a finished task, or ``poll_s``. A second loop publishes pending tasks
that became due (every worker runs it; compare-and-set and message ids make that safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import nats.errors
from loguru import logger
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.errors import HydraError
from hydra_os.lifecycle import Background, Lifecycle
from hydra_os.sections.tasks import TasksConfig
from hydra_os.tasks.execution import Execution, Running
from hydra_os.tasks.puller import Puller, ensure_consumers
from hydra_os.tasks.queue import TaskQueue
from hydra_os.tasks.registry import TaskRegistry
from hydra_os.tasks.resources import ResourceView
from hydra_os.tasks.windows import Windows


class TaskWorker(Lifecycle):
    name = "tasks.worker"

    def __init__(
        self,
        bus: Bus,
        config: TasksConfig,
        windows: Windows,
        registry: TaskRegistry,
        node_id: str,
        *,
        resources: ResourceView | None = None,
        live_nodes: Any = None,
        services: dict[str, Any] | None = None,
    ) -> None:
        self.bus = bus
        self.config = config
        self.windows = windows
        self.registry = registry
        self.node_id = node_id
        self.resources = resources
        self.live_nodes = live_nodes
        """Callable returning the ids of live nodes (membership), to ignore kinds of departed workers."""
        self.services = services or {}
        self.queue = TaskQueue(bus, config, windows, actor=node_id)
        self.store = self.queue.store
        self.running: dict[str, Running] = {}
        self.stats: dict[str, int] = {}
        self._puller = Puller(bus)
        self._wake = asyncio.Event()
        self._bell: Subscription | None = None
        # the loops also watch _stopped: a cancellation swallowed inside nats-py ends them too
        self._loops = Background("tasks", bound_s=max(5.0, config.poll_s * 2))
        self._executions = Background("task", bound_s=10)
        self._kinds_cache: tuple[float, dict[str, list[str]]] = (0.0, {})
        self._started = False
        self._stopped = False

    # ---- lifecycle -----------------------------------------------------------------------------
    async def _start(self) -> None:
        await ensure_consumers(self.bus, self.config)
        await self.store.advertise_kinds(self.node_id, self.registry.kinds())
        await self._puller.start()

        async def ring(_: Msg) -> None:
            self._wake.set()

        self._bell = await self.bus.nc.subscribe(names.TASKS_SUBJECTS, cb=ring)
        self._loops.spawn(self._pull_loop(), "pull")
        self._loops.spawn(self._release_loop(), "release")
        self._started = True
        logger.info("task worker on {}: {} slots, kinds {}", self.node_id, self.config.concurrency,
                    ", ".join(self.registry.kinds()) or "(none)")

    async def _stop(self) -> None:
        """Stop pulling, hand running tasks back (they resume elsewhere from their checkpoints). Idempotent."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True
        await self._loops.close()
        await self._executions.close()
        if self._bell is not None:
            with contextlib.suppress(Exception):
                await self._bell.unsubscribe()
        await self._puller.stop()
        with contextlib.suppress(Exception):
            await self.store.withdraw_kinds(self.node_id)

    def _details(self) -> dict[str, Any]:
        return {
            "running": sorted(self.running),
            "slots": self.config.concurrency,
            "kinds": self.registry.kinds(),
            "stats": dict(self.stats),
        }

    # ---- loops ---------------------------------------------------------------------------------
    @property
    def free_slots(self) -> int:
        return self.config.concurrency - len(self._executions)

    async def _pull_loop(self) -> None:
        while not self._stopped:
            self._wake.clear()  # before pulling: a doorbell during the pull must not be lost
            got = 0
            try:
                got = await self._pull_once()
            except (HydraError, nats.errors.Error, OSError, TimeoutError) as e:  # the bus is reconnecting or slow
                logger.debug("pulling tasks failed: {}", e)
                await asyncio.sleep(0.2)
            except Exception:  # a bug: shown with its traceback, and this node still takes tasks
                logger.exception("pulling tasks failed unexpectedly")
                await asyncio.sleep(0.2)
            if got:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_s):
                    await self._wake.wait()

    async def _pull_once(self) -> int:
        total = 0
        for p in names.TASK_PRIORITIES:
            free = self.free_slots
            if free <= 0:
                break
            msgs = await self._puller.pull(p, free)
            for m in msgs:
                self._spawn(m)
            total += len(msgs)
            if len(msgs) >= free:
                break
        return total

    def _spawn(self, msg: Msg) -> None:
        t = self._executions.spawn(Execution(self, msg).run(), "execution")

        def done(task: asyncio.Task[str]) -> None:
            self._wake.set()
            if task.cancelled():
                return
            if task.exception() is not None:  # logged by the Background that owns it
                self.stats["errors"] = self.stats.get("errors", 0) + 1
                return
            verdict = task.result()
            self.stats[verdict] = self.stats.get(verdict, 0) + 1

        t.add_done_callback(done)

    async def _release_loop(self) -> None:
        while not self._stopped:
            await asyncio.sleep(self.config.release_interval_s)
            try:
                n = await self.queue.release_due()
                if n:
                    logger.debug("released {} pending tasks", n)
            except Exception as e:
                logger.debug("releasing pending tasks failed: {}", e)

    # ---- helpers used by Execution ------------------------------------------------------------
    def has_vram(self, need_mb: int) -> bool:
        """Free VRAM from this node's last heartbeat, less what tasks started since then reserved."""
        if self.resources is None:
            return False
        seen = self.resources.free_vram()
        if seen is None:
            return False
        free, measured_at = seen
        reserved = sum(r.vram_mb for r in self.running.values() if r.started_at >= measured_at)
        return free - reserved >= need_mb

    async def kind_elsewhere(self, kind: str) -> bool:
        """Does a live worker on another node handle ``kind``? (cached for two seconds)"""
        at, kinds = self._kinds_cache
        if time.monotonic() - at > 2.0:
            kinds = await self.store.worker_kinds()
            self._kinds_cache = (time.monotonic(), kinds)
        live = set(self.live_nodes()) if self.live_nodes is not None else set(kinds)
        return any(kind in ks for node, ks in kinds.items() if node != self.node_id and node in live)
