"""One lifecycle for every component: an explicit state with a reason, and one owner of background tasks.

Model: httpx's ``ClientState`` (the state is explicit, not inferred from which attributes are None) and
Home Assistant's ``ConfigEntryState`` with its ``reason`` (a failed or retrying component says why).

:class:`Background` owns a component's background tasks: it names them, logs a crash the moment it
happens (a loop that dies silently is the failure nobody sees), and cancels them all with a bounded
wait on stop — the one copy of the cancel/suppress/await dance that every ``stop()`` used to write.

:class:`Lifecycle` is the base of a component (see :class:`hydra_os.component.Component`): ``start()``
and ``stop()`` drive the state around the subclass's ``_start()``/``_stop()``, ``status()`` adds
``lifecycle: {state, reason}`` to the subclass's ``_details()``, ``async with component:`` starts and
stops it, and ``routes()``/``rpc_handlers()``/``task_kinds()`` are empty unless it has some (the
wiring registers them in one place).

This module is a leaf (fastapi and loguru only), so the memory package and the daemon can both use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from fastapi import APIRouter
from loguru import logger

if TYPE_CHECKING:  # typing only: tasks.registry imports heavier modules; no runtime edge to the task system
    from hydra_os.tasks.registry import KindSpec

STOP_BOUND_S = 10.0
"""How long a stop waits for its cancelled tasks. A task that swallows cancellation is logged and left
behind; the daemon's own ``node.stop_timeout`` then decides (it exits rather than hang)."""

RpcHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""A node RPC verb's handler: the request's params in, a JSON-able result out."""


class ComponentState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    RETRYING = "retrying"
    """Started, but what it serves is not up yet; it keeps trying in the background (``reason`` says why)."""
    FAILED = "failed"
    """``start()`` raised, or a background task it cannot do without crashed (``reason`` says why)."""
    STOPPING = "stopping"


class Background:
    """A set of named background tasks owned by one component.

    Unlike ``asyncio.TaskGroup``, one crashing task does not cancel its siblings (a component's loops
    are independent) and the owner decides when to stop them: :meth:`close`.
    """

    def __init__(self, owner: str, *, bound_s: float = STOP_BOUND_S,
                 on_crash: Callable[[str, BaseException], None] | None = None) -> None:
        self.owner = owner
        self.bound_s = bound_s
        self.on_crash = on_crash
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{self.owner}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved here, so asyncio never warns "exception was never retrieved"
        if exc is not None:
            logger.opt(exception=exc).error("{}: background task {} crashed: {!r}", self.owner, task.get_name(), exc)
            if self.on_crash is not None:
                self.on_crash(task.get_name(), exc)

    @property
    def running(self) -> int:
        return sum(1 for t in self._tasks if not t.done())

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel(self, task: asyncio.Task[Any] | None) -> None:
        """Cancel one task (spawned here or not) and wait for it, within the bound."""
        if task is not None:
            await self._cancel_and_wait({task})

    async def close(self) -> None:
        """Cancel every task and wait for them, within the bound. Idempotent; spawning again is allowed
        (a component may be started after a stop)."""
        await self._cancel_and_wait(set(self._tasks))

    async def _cancel_and_wait(self, tasks: set[asyncio.Task[Any]]) -> None:
        me = asyncio.current_task()
        tasks = {t for t in tasks if t is not me and not t.done()}  # a task stopping its own owner
        for t in tasks:
            t.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.bound_s)
        if pending:
            logger.error("{}: {} did not stop within {:g}s of being cancelled; leaving them behind",
                         self.owner, ", ".join(sorted(t.get_name() for t in pending)), self.bound_s)


class Lifecycle:
    """Base of a component. Subclasses implement ``_start``/``_stop``/``_details`` and set ``name``."""

    name: str = "component"
    state: ComponentState = ComponentState.STOPPED
    reason: str | None = None
    _background: Background | None = None

    @property
    def background(self) -> Background:
        """This component's background tasks (made on first use: subclasses need not call a base __init__)."""
        if self._background is None:
            self._background = Background(self.name, on_crash=self._crashed)
        return self._background

    def set_state(self, state: ComponentState, reason: str | None = None) -> None:
        self.state, self.reason = state, reason

    def _crashed(self, task: str, exc: BaseException) -> None:
        if self.state is ComponentState.RUNNING:
            self.set_state(ComponentState.FAILED, f"background task {task} crashed: {exc!r}")

    async def start(self) -> None:
        self.set_state(ComponentState.STARTING)
        try:
            await self._start()
        except BaseException as e:
            self.set_state(ComponentState.FAILED, str(e) or type(e).__name__)
            raise
        if self.state is ComponentState.STARTING:  # a component that opens in the background says so itself
            self.set_state(ComponentState.RUNNING)

    async def stop(self) -> None:
        """Idempotent: stopping a stopped component (or one whose start failed) is safe."""
        if self.state is ComponentState.STOPPING:
            return
        self.set_state(ComponentState.STOPPING)
        try:
            await self._stop()
        finally:
            await self.background.close()
            self.set_state(ComponentState.STOPPED)

    def status(self) -> dict[str, Any]:
        return {**self._details(), "lifecycle": {"state": self.state.value, "reason": self.reason}}

    async def _start(self) -> None:
        return None

    async def _stop(self) -> None:
        return None

    def _details(self) -> dict[str, Any]:
        return {}

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # ---- what the wiring registers (hydra_os.wiring), empty unless the component has some -----------
    def routes(self) -> Sequence[APIRouter]:
        return ()

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        return {}

    def task_kinds(self) -> Sequence[KindSpec]:
        return ()
