"""Supervising the processes the daemon owns: model engines, helpers, the embedded nats-server.

The supervisor starts the children it owns, watches every child (liveness every
``watch_interval_s``, a health probe every ``probe_interval_s``) and tells the healer at once when
one goes down or stops answering. It never restarts on its own: restarts go through the
``child_process`` check and the ``restart_process`` fixup, i.e. through the policy gate, like any
other repair. A child is anything that satisfies :class:`Supervisable`; :class:`ChildProcess`
runs an argument list, :class:`EmbeddedBusChild` adopts the daemon's
:class:`~hydra_os.bus.embedded.EmbeddedNats` (which the daemon keeps starting and stopping).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx
from loguru import logger
from pydantic import BaseModel

from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.healing.errors import SupervisorError
from hydra_os.lifecycle import Background
from hydra_os.procutil import die_with_parent, terminate
from hydra_os.sections.healing import ChildSpec


@runtime_checkable
class Supervisable(Protocol):
    name: str
    kind: str  # "engine", "bus" or "process": picks the policy action kind of its restart

    @property
    def pid(self) -> int | None: ...

    @property
    def running(self) -> bool: ...

    async def start(self) -> None:
        """Start and return once healthy; raise SupervisorError otherwise."""
        ...

    async def stop(self) -> None: ...

    async def probe(self) -> bool:
        """True when it answers (health endpoint, protocol greeting)."""
        ...


class ChildProcess:
    """An argument-list child with a log file under ``log_dir`` and an optional HTTP health URL."""

    def __init__(self, spec: ChildSpec, log_dir: Path) -> None:
        self.spec = spec
        self.name = spec.name
        self.kind: str = spec.kind
        self.log_path = log_dir / f"{spec.name}.log"
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self.spec.argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    env={**_environ(), **self.spec.env},
                    cwd=str(self.spec.cwd) if self.spec.cwd else None,
                    preexec_fn=die_with_parent,
                    start_new_session=True,  # a terminal's Ctrl-C (SIGINT to its group) is the daemon's to handle
                )
            except OSError as e:
                raise SupervisorError(f"cannot start {self.name} ({self.spec.argv[0]}): {e.strerror}") from None
        deadline = time.monotonic() + self.spec.start_timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                tail = " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-3:])
                code = self._proc.returncode if self._proc else None
                raise SupervisorError(f"{self.name} exited with code {code} while starting: {tail}")
            if await self.probe():
                return
            await asyncio.sleep(0.05)
        await self.stop()
        raise SupervisorError(f"{self.name} did not become healthy within {self.spec.start_timeout_s:g}s")

    async def stop(self) -> None:
        if self._proc is not None:
            await terminate(self._proc, grace=5.0)

    async def probe(self) -> bool:
        if not self.running:
            return False
        if not self.spec.health_url:
            return True
        try:
            async with httpx.AsyncClient(timeout=1.0) as c:
                r = await c.get(self.spec.health_url)
            return r.is_success
        except httpx.HTTPError:
            return False


def _environ() -> dict[str, str]:
    return dict(os.environ)


class EmbeddedBusChild:
    """Adopts the daemon's embedded nats-server. A restart keeps its port, so clients reconnect."""

    kind = "bus"

    def __init__(self, server: EmbeddedNats, name: str = "bus") -> None:
        self.server = server
        self.name = name

    @property
    def pid(self) -> int | None:
        return self.server.pid

    @property
    def running(self) -> bool:
        return self.server.running

    async def start(self) -> None:
        if self.server.url and not self.server.port:
            port = urlsplit(self.server.url).port
            if port:
                self.server.port = port  # same port again: the Bus's reconnect loop finds it
        await self.server.stop()  # reap the dead one, close its log
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    async def probe(self) -> bool:
        if not self.running or not self.server.url:
            return False
        u = urlsplit(self.server.url)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(u.hostname, u.port), 1.0)
        except (OSError, TimeoutError):
            return False
        try:
            line = await asyncio.wait_for(reader.readline(), 1.0)
            return line.startswith(b"INFO ")
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class ChildState(BaseModel):
    name: str
    kind: str
    pid: int | None
    running: bool
    healthy: bool
    restarting: bool
    restarts: int
    down_since: float | None
    last_restart: float | None


class _Watched:
    def __init__(self, child: Supervisable, owned: bool) -> None:
        self.child = child
        self.owned = owned
        self.healthy = True
        self.fails = 0
        self.restarting = False
        self.restarts = 0
        self.down_since: float | None = None
        self.last_restart: float | None = None
        self.next_probe = 0.0


class ProcessSupervisor:
    """Owns and watches children. ``stop()`` is idempotent and stops only owned children."""

    name = "supervisor"

    def __init__(self, *, watch_interval: float = 0.2, probe_interval: float = 1.0, probe_failures: int = 2) -> None:
        self.watch_interval = watch_interval
        self.probe_interval = probe_interval
        self.probe_failures = probe_failures
        self._children: dict[str, _Watched] = {}
        self._listeners: list[Callable[[str], None]] = []
        self._tasks = Background("supervisor")
        self._locks: dict[str, asyncio.Lock] = {}
        self._started = False  # restarts are refused outside start()..stop(): only we spawn children

    def add(self, child: Supervisable, *, owned: bool = True) -> None:
        if child.name in self._children:
            raise SupervisorError(f"a supervised child named {child.name!r} already exists")
        self._children[child.name] = _Watched(child, owned)
        self._locks[child.name] = asyncio.Lock()

    def on_change(self, listener: Callable[[str], None]) -> None:
        """``listener(name)`` is called (on the loop) when a child goes down or turns unhealthy."""
        self._listeners.append(listener)

    def names(self) -> list[str]:
        return sorted(self._children)

    def child(self, name: str) -> Supervisable:
        return self._get(name).child

    def _get(self, name: str) -> _Watched:
        try:
            return self._children[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise SupervisorError(f"no supervised child named {name!r} (known: {known})") from None

    def state(self, name: str) -> ChildState:
        w = self._get(name)
        return ChildState(
            name=name, kind=w.child.kind, pid=w.child.pid, running=w.child.running,
            healthy=w.child.running and w.healthy, restarting=w.restarting, restarts=w.restarts,
            down_since=w.down_since, last_restart=w.last_restart,
        )

    def states(self) -> list[ChildState]:
        return [self.state(n) for n in self.names()]

    async def start(self) -> None:
        for name, w in self._children.items():
            async with self._locks[name]:  # never interleaved with a restart of the same child
                if w.owned and not w.child.running:
                    await w.child.start()
        self._started = True
        if not self._tasks:
            self._tasks.spawn(self._watch(), "watch")

    async def stop(self) -> None:
        self._started = False
        await self._tasks.close()
        for name, w in self._children.items():
            async with self._locks[name]:  # after a restart under way, never in the middle of it
                if w.owned:
                    await w.child.stop()

    async def restart(self, name: str) -> dict[str, Any]:
        """Stop (if needed) and start one child, waiting until it is healthy."""
        w = self._get(name)
        async with self._locks[name]:
            if not self._started:  # checked holding the child: a restart that waited out another may
                # find the node stopping by now. Before start() a restart would spawn a child the supervisor
                # is about to spawn too (two processes, or one killed while start() waits for it); after
                # stop() it would leave one behind
                raise SupervisorError(f"cannot restart {name}: the supervisor is not running its children "
                                      "(the node is starting or stopping); nothing was restarted")
            w.restarting = True
            try:
                if w.child.running:
                    await w.child.stop()
                await w.child.start()
            finally:
                w.restarting = False
            w.restarts += 1
            w.last_restart = time.time()
            w.healthy, w.fails, w.down_since = True, 0, None
            w.next_probe = time.monotonic() + self.probe_interval
            logger.info("supervised {} {} restarted, pid {}", w.child.kind, name, w.child.pid)
            return {"restarted": True, "pid": w.child.pid, "restarts": w.restarts}

    def _notify(self, name: str) -> None:
        for listener in self._listeners:
            try:
                listener(name)
            except Exception:
                logger.exception("supervisor listener failed")

    async def _probe(self, name: str, w: _Watched) -> None:
        ok = await w.child.probe()
        if w.restarting or not w.child.running:
            return
        w.fails = 0 if ok else w.fails + 1
        if w.healthy and w.fails >= self.probe_failures:
            w.healthy = False
            w.down_since = time.time()
            logger.warning("supervised {} {} stopped answering its health probe", w.child.kind, name)
            self._notify(name)

    async def _watch(self) -> None:
        while True:
            now = time.monotonic()
            probes = []
            for name, w in list(self._children.items()):
                if w.restarting:
                    continue
                if not w.child.running:
                    if w.down_since is None:
                        w.down_since = time.time()
                        w.healthy = False
                        logger.warning("supervised {} {} is not running", w.child.kind, name)
                        self._notify(name)
                elif now >= w.next_probe:
                    w.next_probe = now + self.probe_interval
                    probes.append(self._probe(name, w))
            if probes:
                await asyncio.gather(*probes)
            await asyncio.sleep(self.watch_interval)
