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

This module is a leaf (loguru only at run time), so the bus client, the memory package and the daemon
can all use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from loguru import logger

if TYPE_CHECKING:  # typing only: the bus client and the CLI use this module and do not need fastapi at run time
    from fastapi import APIRouter

STOP_BOUND_S = 10.0
"""How long a stop waits for its cancelled tasks. A task that swallows cancellation is logged and left
behind; the daemon's own ``node.stop_timeout`` then decides (it exits rather than hang)."""

RpcHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""A node RPC verb's handler: the request's params in, a JSON-able result out."""


class TaskKind(Protocol):
    """A task kind a part offers the wiring (:class:`hydra_os.tasks.registry.KindSpec` is the one
    implementation). A Protocol, so this module stays a leaf: naming ``KindSpec`` here tied the bus
    client to the task store in one import cycle."""

    @property
    def kind(self) -> str: ...

    @property
    def handler(self) -> Callable[..., Awaitable[Any]]: ...

    @property
    def description(self) -> str: ...

    @property
    def steps(self) -> tuple[str, ...]: ...


class ComponentState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    RETRYING = "retrying"
    """Started, but what it serves is not up yet; it keeps trying in the background (``reason`` says why)."""
    FAILED = "failed"
    """``start()`` raised, or a background task it cannot do without crashed (``reason`` says why)."""
    STOPPING = "stopping"


NOT_SERVING = frozenset({ComponentState.FAILED, ComponentState.RETRYING})
"""The states ``/readyz`` lists under ``failing`` (the node stays in service; the component says why)."""


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
        task = asyncio.create_task(coro, name=f"{self.owner}-{name}")
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

    def tasks(self) -> set[asyncio.Task[Any]]:
        """The tasks not finished yet."""
        return {t for t in self._tasks if not t.done()}

    def __len__(self) -> int:
        """Tasks not finished yet (a finished one may wait a loop turn for its done-callback)."""
        return sum(1 for t in self._tasks if not t.done())

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


class Registers:
    """What a part offers :mod:`hydra_os.wiring` to register (API routes, node RPC verbs, task kinds);
    nothing by default. A component gets these from :class:`Lifecycle`; an API-only part (no start or
    stop) derives from this directly."""

    def routes(self) -> Sequence[APIRouter]:
        return ()

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        return {}

    def task_kinds(self) -> Sequence[TaskKind]:
        return ()


class Lifecycle(Registers):
    """Base of a component. Subclasses implement ``_start``/``_stop``/``_details`` and set ``name``."""

    name: str = "component"
    opens_in_background: ClassVar[bool] = False
    """True: ``start()`` returns while the component still opens; it moves itself out of STARTING."""
    state: ComponentState = ComponentState.STOPPED
    reason: str | None = None
    _owned: Background | None = None

    @property
    def background(self) -> Background:
        """This component's background tasks (made on first use: subclasses need not call a base __init__)."""
        if self._owned is None:
            self._owned = Background(self.name, on_crash=self._crashed)
        return self._owned

    def set_state(self, state: ComponentState, reason: str | None = None) -> None:
        self.state, self.reason = state, reason

    def _crashed(self, task: str, exc: BaseException) -> None:
        if self.state not in (ComponentState.STOPPING, ComponentState.STOPPED):  # a crash while stopping is noise
            self.set_state(ComponentState.FAILED, f"background task {task} crashed: {exc!r}")

    async def start(self) -> None:
        self.set_state(ComponentState.STARTING)
        try:
            await self._start()
        except BaseException as e:
            self.set_state(ComponentState.FAILED, str(e) or type(e).__name__)
            raise
        if self.state is ComponentState.STARTING and not self.opens_in_background:
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
