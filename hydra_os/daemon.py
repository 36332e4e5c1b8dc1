"""The node supervisor: ``hydra run``.

Start order, in named phases (each step undone in reverse if a later one fails, so nothing is left
half-started): ``_claim_state_dir`` (state dir and lock, API socket bound) -> ``_start_embedded_bus``
(when no ``bus.url``) -> ``_connect_bus`` (connection and topology) -> ``_join`` (event outbox,
components built and registered, node RPC, membership: register, join event) -> ``_start_components``
-> ``_serve_api`` -> ``_announce_ready`` (``READY=1``). Shutdown runs the same stack backwards; the
embedded server goes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

from loguru import logger

from hydra_os import __version__
from hydra_os.api.app import ApiServer, bind_socket, create_app, make_server
from hydra_os.api.auth import BearerToken, ensure_token, require_token
from hydra_os.bus.auth import BusCredentials, ensure_local_credentials
from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.component import Component, NodeContext
from hydra_os.config import Settings
from hydra_os.errors import StartupError
from hydra_os.events import OUTBOX_FILE, EventLog
from hydra_os.inference.asgi import HotPaths
from hydra_os.lifecycle import NOT_SERVING
from hydra_os.lockfile import StateLock
from hydra_os.node.gpu import NvmlProbe
from hydra_os.node.info import NodeInfo, host_stats
from hydra_os.node.membership import Membership
from hydra_os.node.rpc import NodeRpc
from hydra_os.policy.chainhead import ChainHeadStore
from hydra_os.readiness import Probe, unready
from hydra_os.systemd import Notifier
from hydra_os.wiring import build_components

RUNTIME_FILE = "runtime.json"


def prepare_state_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise StartupError(
            f"cannot create state dir {path} ({e.strerror}); create it for uid {os.getuid()} or set node.state_dir"
        ) from None
    tighten_state_dir(path)
    probe = path / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise StartupError(
            f"state dir {path} is not writable by uid {os.getuid()} ({e.strerror}); "
            f"chown it (chown -R {os.getuid()} {path}) or set node.state_dir"
        ) from None


def tighten_state_dir(path: Path) -> None:
    """mkdir's mode applies only to a new directory: an existing one open to others (0755 from an
    older install or a hand-made dir) would expose memory, the JetStream store and the secrets."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        try:
            path.chmod(0o700)
        except OSError as e:
            raise StartupError(
                f"state dir {path} has mode {mode:04o} and cannot be tightened to 0700 ({e.strerror}); "
                f"chmod 700 {path}"
            ) from None
        logger.warning("state dir {} had mode {:04o}; tightened it to 0700", path, mode)


def write_runtime(state_dir: Path, data: dict[str, Any]) -> None:
    tmp = state_dir / (RUNTIME_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, state_dir / RUNTIME_FILE)


def read_runtime(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir / RUNTIME_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Daemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.node_id = settings.node.id
        self.incarnation = uuid.uuid4().hex[:12]
        self.started_at = time.time()
        self.embedded: EmbeddedNats | None = None
        self.bus: Bus | None = None
        self.events: EventLog | None = None
        self.membership: Membership | None = None
        self.rpc: NodeRpc | None = None
        self.components: list[Component] = []
        self.api_url: str | None = None
        self.notifier = Notifier()
        self._nvml = NvmlProbe()
        self._ready = False
        self._stop = asyncio.Event()
        self._stack = contextlib.AsyncExitStack()
        self._server: ApiServer | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._unstopped: list[str] = []  # start steps whose undo has not finished, in start order
        self._stopping: str | None = None
        self._readiness: dict[str, Probe] = {}  # NodeContext.readiness, once built

    # ---- views used by the API and RPC -------------------------------------------------
    @property
    def is_ready(self) -> bool:
        return self._ready and self._bus_usable() and not self.unready()

    def _bus_usable(self) -> bool:
        """Connected, and the last probe made a round trip (nats-py's own flag stays true when frozen)."""
        return self.bus is not None and self.bus.status.connected and self.bus.status.usable

    def unready(self) -> dict[str, str]:
        """Subsystems that cannot serve right now, with why (``/readyz`` shows them)."""
        return unready(self._readiness)

    def failing(self) -> list[str]:
        """Components that are failed or retrying (``/readyz`` names them; their reason is in the status)."""
        return sorted(c.name for c in self.components if c.state in NOT_SERVING)

    async def node_info(self) -> NodeInfo:
        now = time.time()
        gpus = await asyncio.to_thread(self._nvml.read)
        return NodeInfo(
            id=self.node_id,
            incarnation=self.incarnation,
            roles=list(self.settings.node.roles),
            version=__version__,
            api_url=self.api_url,
            pid=os.getpid(),
            started_at=self.started_at,
            heartbeat_at=now,
            uptime_s=round(now - self.started_at, 3),
            gpus=gpus,
            bus_server=self.bus.status.server if self.bus else None,
            **host_stats(),  # type: ignore[arg-type]
        )

    def status(self) -> dict[str, Any]:
        me = self.membership.peers.get(self.node_id) if self.membership else None
        return {
            "node": self.node_id,
            "version": __version__,
            "incarnation": self.incarnation,
            "ready": self.is_ready,
            "unready": self.unready(),
            "roles": list(self.settings.node.roles),
            "uptime_s": round(time.time() - self.started_at, 3),
            "api_url": self.api_url,
            "state_dir": str(self.settings.node.state_dir),
            "bus": {
                **(self.bus.status.as_dict() if self.bus else {"connected": False}),
                "embedded": self.embedded is not None,
                "embedded_pid": self.embedded.pid if self.embedded else None,
                "heartbeat_error": self.membership.last_heartbeat_error if self.membership else None,
                "events_queued": self.events.queued if self.events else 0,
            },
            "nodes_seen": sorted(self.membership.peers) if self.membership else [],
            "gpus": [g.model_dump() for g in me.info.gpus] if me else [],
            "nvml": self._nvml.error or ("ok" if self._nvml.available else "unavailable"),
            "components": {c.name: c.status() for c in self.components},
            "systemd": {"notify": self.notifier.enabled, "watchdog_s": self.notifier.watchdog_interval},
        }

    def nodes(self) -> list[NodeInfo]:
        return self.membership.nodes() if self.membership else []

    # ---- lifecycle -------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    async def start(self) -> None:
        """Start in named phases, each pushing its undo on the exit stack as it goes; any failure
        unwinds what was started, in reverse (the order is in the module docstring)."""
        try:
            token, sock = self._claim_state_dir()
            auth = require_token(token)
            servers, local_creds = await self._start_embedded_bus()
            await self._connect_bus(servers, local_creds)
            ctx = await self._join(auth)
            await self._start_components()
            await self._serve_api(sock, ctx, auth)
            self._announce_ready(servers)
        except BaseException:
            await self.stop()
            raise

    def _claim_state_dir(self) -> tuple[str, socket.socket]:
        """The state dir and its lock, the API token and the bound API socket (nothing runs yet)."""
        s = self.settings
        prepare_state_dir(s.node.state_dir)
        lock = StateLock(s.node.state_dir)
        lock.acquire()
        self._stack.callback(lock.release)
        token = ensure_token(s.api_token_path, generate=s.api.token_file is None)
        sock = bind_socket(s.api.host, s.api.port)
        self._stack.callback(sock.close)
        host, port = sock.getsockname()[:2]
        shown_host = f"[{host}]" if ":" in host else host
        self.api_url = s.api.advertise_url or f"http://{shown_host}:{port}"
        return token, sock

    async def _start_embedded_bus(self) -> tuple[list[str], BusCredentials | None]:
        """The daemon's own nats-server when no ``bus.url`` is set; the servers to connect to."""
        s = self.settings
        if s.bus.url:
            return list(s.bus.url), None
        local_creds = ensure_local_credentials(s.node.state_dir, self.node_id)
        self.embedded = EmbeddedNats(
            s.node.state_dir / "nats",
            host=s.bus.host,
            port=s.bus.port,
            binary=s.bus.server_binary,
            server_name=f"hydra-{self.node_id}",
            users=[local_creds],
        )
        await self.embedded.start()
        self._push_stop("embedded nats-server", self.embedded.stop)
        return [self.embedded.url or ""], local_creds

    async def _connect_bus(self, servers: list[str], credentials: BusCredentials | None) -> None:
        s = self.settings
        self.bus = Bus(servers, s.bus, name=f"hydra-{self.node_id}", credentials=credentials)
        await self.bus.connect()
        self._push_stop("bus connection", self.bus.close)
        await self.bus.ensure_topology(s.membership.gone_after)
        self.bus.start_probe()

    async def _join(self, auth: BearerToken) -> NodeContext:
        """Event outbox, the components built (their routes, verbs and kinds registered), node RPC
        serving, membership joined."""
        s = self.settings
        assert self.bus is not None
        heads = ChainHeadStore(s.node.state_dir, self.bus, self.node_id)  # audit: newest events removed?
        self.events = EventLog(self.bus, self.node_id, s.node.state_dir / OUTBOX_FILE, head_store=heads)
        await self.events.start()
        self._push_stop("event outbox", self.events.stop)
        self.rpc = NodeRpc(self.bus, self.node_id)
        self.membership = Membership(
            self.bus,
            self.events,
            self.node_id,
            self.node_info,
            heartbeat_interval=s.membership.heartbeat_interval,
            gone_after=s.membership.gone_after,
        )
        ctx = NodeContext(
            s, self.bus, self.events, self.rpc, self.membership, embedded_bus=self.embedded, auth=auth
        )
        self.components = build_components(ctx)
        self._readiness = ctx.readiness
        self._register_rpc(self.rpc)
        await self._enter("node RPC", self.rpc)
        await self._enter("membership", self.membership)
        return ctx

    async def _start_components(self) -> None:
        for c in self.components:
            await self._enter(f"component {c.name}", c)

    async def _serve_api(self, sock: socket.socket, ctx: NodeContext, auth: BearerToken) -> None:
        app: Any = create_app(self, auth, ctx.routers, ctx.openapi_extra, max_body=self.settings.api.max_body_bytes,
                              body_gates=ctx.body_gates)
        if ctx.hot_routes:
            app = HotPaths(app, ctx.hot_routes)
        self._server = make_server(app)
        self._server_task = asyncio.create_task(self._server.serve(sockets=[sock]), name="api")
        self._push_stop("HTTP API", self._stop_api)
        while not self._server.started:
            if self._server_task.done():
                raise StartupError(f"the HTTP API failed to start on {self.api_url}")
            await asyncio.sleep(0.01)

    def _announce_ready(self, servers: list[str]) -> None:
        """runtime.json for the CLI, READY=1 and the watchdog for systemd, one log line for the owner."""
        s = self.settings
        write_runtime(
            s.node.state_dir,
            {"pid": os.getpid(), "node": self.node_id, "bus": servers, "api_url": self.api_url},
        )
        self._stack.callback(lambda: (s.node.state_dir / RUNTIME_FILE).unlink(missing_ok=True))
        self._ready = True
        self.notifier.ready(f"node {self.node_id} ready; API {self.api_url}")
        self.notifier.start_watchdog(self._bus_usable)
        self._push_stop("systemd watchdog", self.notifier.stop_watchdog)
        logger.info(
            "node {} ready in {:.2f}s: API {}, bus {}{}",
            self.node_id,
            time.time() - self.started_at,
            self.api_url,
            ", ".join(servers),
            " (embedded)" if self.embedded else "",
        )

    async def _enter(self, name: str, part: NodeRpc | Component) -> None:
        """Start a part and push its stop, named, on the exit stack (``async with part`` with the
        bounded-shutdown bookkeeping of :meth:`_push_stop`)."""
        await part.start()
        self._push_stop(name, part.stop)

    def _register_rpc(self, rpc: NodeRpc) -> None:
        async def ping(_: dict[str, Any]) -> dict[str, Any]:
            return {"pong": True, "node": self.node_id, "ts": time.time()}

        async def status(_: dict[str, Any]) -> dict[str, Any]:
            return self.status()

        rpc.handle_all({"ping": ping, "status": status})

    async def _stop_api(self) -> None:
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server_task, 10)
            self._server_task = None

    def _push_stop(self, name: str, stop: Callable[[], Awaitable[None]]) -> None:
        """Undo a start step on shutdown, remembering which steps have not finished (for the bound)."""
        self._unstopped.append(name)

        async def step() -> None:
            self._stopping = name
            await stop()
            self._unstopped.remove(name)

        self._stack.push_async_callback(step)

    async def stop(self) -> None:
        """Drain and stop everything in reverse start order, within ``node.stop_timeout``. Idempotent.

        Past the bound the daemon logs what is still running and exits 1 at once: a stop that hangs
        (a task handler that swallows cancellation, a peer that never answers) must not keep the
        process up until systemd's SIGKILL lands mid-write. Children die with it (PDEATHSIG).
        """
        if self._ready:
            self.notifier.stopping()
        self._ready = False
        limit = self.settings.node.stop_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        closing = asyncio.create_task(self._stack.aclose(), name="daemon-stop")
        done, _ = await asyncio.wait({closing}, timeout=limit)
        if not done:
            self._abandon(limit, closing)
        closing.result()
        self._nvml.close()
        # what a component left behind (a task that swallows cancellation) would otherwise hang the
        # event loop's own final cancel-and-wait, which has no bound at all
        me = asyncio.current_task()
        left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        for t in left:
            t.cancel()
        if left:
            _, pending = await asyncio.wait(left, timeout=max(deadline - loop.time(), 1.0))
            if pending:
                self._abandon(limit, closing)

    def _abandon(self, limit: float, closing: asyncio.Task[None]) -> NoReturn:
        me = asyncio.current_task()
        tasks = sorted(
            f"{t.get_name()} ({getattr(t.get_coro(), '__qualname__', '?')})"
            for t in asyncio.all_tasks()
            if t is not me and t is not closing and not t.done()
        )
        logger.error(
            "shutdown exceeded node.stop_timeout ({:g}s) while stopping {}; not stopped: {}; tasks still running: {}; "
            "exiting now",
            limit, self._stopping or "-", ", ".join(reversed(self._unstopped)) or "-", ", ".join(tasks) or "-",
        )
        (self.settings.node.state_dir / RUNTIME_FILE).unlink(missing_ok=True)
        sys.stderr.flush()
        os._exit(1)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            await self._stop.wait()
            logger.info("stopping node {}", self.node_id)
        finally:
            await self.stop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        logger.info("node {} stopped", self.node_id)
