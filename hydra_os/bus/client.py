"""The connection to the NATS bus: connect, reconnect, report, and create what Hydra needs.

``Bus`` wraps one ``nats.aio.client.Client``. It reconnects forever with a fixed wait plus jitter
between attempts (``bus.reconnect_wait``) across every known server of the cluster, and keeps a
small status record (connected, usable, server, reconnect count, last error) for ``/v1/status``.

The daemon's bus also runs a probe (:meth:`Bus.start_probe`): every ``bus.probe_interval`` a
request through the server and JetStream with a deadline. Its answer is what readiness and the
systemd watchdog believe ("usable"), not nats-py's idea of "connected", which stays true while the
server is frozen and after nats-py's read loop has died. Streams and buckets that vanished with a
restarted server are recreated (on every reconnect, and whenever the probe finds one missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any

import nats
import nats.errors
import nats.js.errors
from loguru import logger
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from hydra_os.bus import names
from hydra_os.bus.auth import BusCredentials, client_options
from hydra_os.bus.config import BusConfig
from hydra_os.bus.kvscan import kv_scan
from hydra_os.errors import BusError
from hydra_os.lifecycle import Background

# Failed probes in a row on a connection nats-py still calls connected before it is rebuilt.
REBUILD_AFTER_FAILURES = 3


@dataclass
class BusStatus:
    connected: bool = False
    usable: bool = False
    server: str | None = None
    reconnects: int = 0
    disconnects: int = 0
    rebuilds: int = 0
    last_error: str | None = None
    probe_error: str | None = None
    last_change: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "usable": self.usable,
            "server": self.server,
            "reconnects": self.reconnects,
            "disconnects": self.disconnects,
            "rebuilds": self.rebuilds,
            "last_error": self.last_error,
            "probe_error": self.probe_error,
            "last_change": self.last_change,
        }


class ProbeFault(StrEnum):
    DISCONNECTED = "disconnected"
    READ_LOOP_DEAD = "read loop dead"
    NO_ANSWER = "no answer"
    MISSING = "streams missing"


@dataclass(frozen=True)
class ProbeResult:
    """One bus probe: ``fault`` None when the bus answered and every Hydra stream and bucket exists."""

    fault: ProbeFault | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.fault is None

    def __str__(self) -> str:
        return "usable" if self.fault is None else f"{self.fault}: {self.detail}"


def stream_configs(gone_after: float, replicas: int = 1) -> list[StreamConfig]:
    """The streams Hydra needs. Events are kept 30 days; tasks are a work queue."""
    return [
        StreamConfig(
            name=names.EVENTS_STREAM,
            subjects=[names.EVENTS_SUBJECTS],
            storage=StorageType.FILE,
            max_age=30 * 24 * 3600,
            duplicate_window=120,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=names.TASKS_STREAM,
            subjects=[names.TASKS_SUBJECTS],
            storage=StorageType.FILE,
            retention=RetentionPolicy.WORK_QUEUE,
            duplicate_window=120,
            num_replicas=replicas,
        ),
    ]


def bucket_configs(gone_after: float, replicas: int = 1) -> list[KeyValueConfig]:
    """The KV buckets Hydra needs; membership and leadership entries expire by TTL."""
    ttl = max(gone_after * 2, 2.0)
    return [
        KeyValueConfig(bucket=names.NODES_BUCKET, ttl=ttl, storage=StorageType.MEMORY, replicas=replicas),
        KeyValueConfig(bucket=names.MODELS_BUCKET, ttl=ttl, storage=StorageType.MEMORY, replicas=replicas),
        KeyValueConfig(bucket=names.SERVICES_BUCKET, ttl=ttl, storage=StorageType.MEMORY, replicas=replicas),
        KeyValueConfig(bucket=names.TASKS_BUCKET, history=5, storage=StorageType.FILE, replicas=replicas),
        KeyValueConfig(bucket=names.APPROVALS_BUCKET, history=5, storage=StorageType.FILE, replicas=replicas),
        KeyValueConfig(bucket=names.LEADER_BUCKET, ttl=5.0, storage=StorageType.MEMORY, replicas=replicas),
    ]


async def kv_values(kv: KeyValue) -> list[tuple[str, bytes]]:
    """Every key of a bucket with its current (non-empty) value: a snapshot before watching live."""
    return [(item.key, item.value) for item in await kv_scan(kv)]


class Bus:
    """One NATS connection with JetStream. ``close()`` is idempotent."""

    def __init__(
        self,
        servers: list[str],
        config: BusConfig,
        *,
        name: str = "hydra",
        credentials: BusCredentials | None = None,
    ) -> None:
        """``credentials``: the embedded server's user (else ``config``'s credentials/TLS files apply)."""
        self.servers = servers
        self.config = config
        self.name = name
        self.credentials = credentials
        self.status = BusStatus()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: dict[str, KeyValue] = {}
        self._closing = False
        self._gone_after: float | None = None  # set by ensure_topology: what to recreate after a restart
        self._probe = Background("bus-probe")
        self._topology = Background("bus-topology")

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise BusError("not connected to the bus")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise BusError("not connected to the bus")
        return self._js

    async def connect(self) -> None:
        options = client_options(self.config, self.credentials)

        async def on_disconnect() -> None:
            self.status.connected = False
            if self._closing:
                return
            self.status.disconnects += 1
            self.status.last_change = time.time()
            logger.warning("bus disconnected from {}; reconnecting", self.status.server)

        async def on_reconnect() -> None:
            self.status.connected = True
            self.status.reconnects += 1
            self.status.server = self._server_url()
            self.status.last_change = time.time()
            logger.info("bus reconnected to {}", self.status.server)
            self._schedule_topology()  # a restarted server lost its memory-storage buckets

        async def on_error(e: Exception) -> None:
            self.status.last_error = f"{type(e).__name__}: {e}"

        async def on_closed() -> None:
            self.status.connected = False

        # nats.py retries the first connection forever when reconnects are unlimited, so the
        # first connection gets its own deadline: an unreachable bus.url is a startup error.
        first_deadline = self.config.connect_timeout * max(len(self.servers), 1) + self.config.reconnect_wait
        try:
            self._nc = await asyncio.wait_for(nats.connect(
                servers=self.servers,
                name=self.name,
                connect_timeout=self.config.connect_timeout,
                reconnect_time_wait=self.config.reconnect_wait,
                max_reconnect_attempts=-1,
                dont_randomize=True,  # the first URL is this node's own server; the rest are failover
                allow_reconnect=True,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                error_cb=on_error,
                closed_cb=on_closed,
                **options,
            ), first_deadline)
        except (OSError, TimeoutError, nats.errors.Error) as e:
            shown = ", ".join(self.servers)
            # the retry loop hides the server's answer behind the deadline; error_cb kept the last one
            detail = self.status.last_error or str(e) or type(e).__name__
            hint = (
                "check bus.credentials_file (or the state dir's bus-credentials for the embedded server)"
                if "authorization" in detail.lower()
                else "check bus.url and that nats-server runs, or unset bus.url to use the embedded server"
            )
            raise BusError(f"cannot reach NATS at {shown} ({detail}); {hint}") from None
        self._js = self._nc.jetstream(timeout=self.config.request_timeout)
        self.status.connected = True
        self.status.usable = True  # the handshake was a round trip
        self.status.server = self._server_url()
        self.status.last_change = time.time()

    def _server_url(self) -> str | None:
        if self._nc is None or self._nc.connected_url is None:
            return None
        u = self._nc.connected_url
        return f"{u.scheme}://{u.hostname}:{u.port}"

    async def ensure_topology(self, gone_after: float) -> None:
        """Create (or update to the wanted config) every stream and bucket. Safe to run on every start."""
        self._gone_after = gone_after
        replicas = self.config.replicas
        for sc in stream_configs(gone_after, replicas):
            try:
                await self.js.add_stream(sc)
            except nats.js.errors.BadRequestError:
                await self.js.update_stream(sc)
        for kc in bucket_configs(gone_after, replicas):
            self._kv[kc.bucket] = await self._ensure_bucket(kc)

    async def _ensure_bucket(self, kc: KeyValueConfig) -> KeyValue:
        try:
            return await self.js.create_key_value(kc)
        except nats.js.errors.BadRequestError:
            # exists with another config (e.g. a changed TTL): bring it to the wanted one
            existing = await self.js.stream_info(f"KV_{kc.bucket}")
            cfg = existing.config
            cfg.max_age = kc.ttl
            cfg.max_msgs_per_subject = kc.history
            await self.js.update_stream(cfg)
            return await self.js.key_value(kc.bucket)

    def _schedule_topology(self) -> None:
        if self._gone_after is None or self._closing:
            return
        if not self._topology:
            self._topology.spawn(self._restore_topology(), "restore")

    async def _restore_topology(self) -> None:
        assert self._gone_after is not None
        try:
            async with asyncio.timeout(self.config.request_timeout * 10):
                await self.ensure_topology(self._gone_after)
        except (TimeoutError, nats.errors.Error, OSError, BusError) as e:
            logger.warning("bus: cannot recreate streams and buckets yet ({}); the probe retries", type(e).__name__)

    def _wanted_streams(self) -> set[str]:
        assert self._gone_after is not None
        return {sc.name or "" for sc in stream_configs(self._gone_after)} | {
            f"KV_{kc.bucket}" for kc in bucket_configs(self._gone_after)
        }

    def _read_loop_dead(self) -> bool:
        # nats-py (2.16) ends its read loop on an unexpected error but leaves the client "connected":
        # a PONG for a flush() that timed out during a server freeze resolves a cancelled future
        # (InvalidStateError in _process_pong; nats-io/nats.py#914, no release fixes it). Nothing is
        # read after that, so every request times out until the client is rebuilt.
        task: asyncio.Task[None] | None = getattr(self._nc, "_reading_task", None)
        return task is not None and task.done()

    async def probe(self, timeout: float | None = None) -> ProbeResult:
        """A round trip through the server and JetStream with a deadline; also checks Hydra's streams exist."""
        nc, t = self._nc, timeout or self.config.probe_timeout
        if nc is None or not nc.is_connected:
            return ProbeResult(ProbeFault.DISCONNECTED, f"from {self.status.server or 'the bus'}")
        if self._read_loop_dead():
            return ProbeResult(ProbeFault.READ_LOOP_DEAD, "the NATS client reads nothing more")
        try:
            async with asyncio.timeout(t):
                msg = await nc.request(names.JS_STREAM_NAMES, b"{}", timeout=t)
            answer = json.loads(msg.data)
        except (nats.errors.Error, TimeoutError, OSError, ValueError) as e:
            return ProbeResult(ProbeFault.NO_ANSWER, f"no answer within {t:g}s ({type(e).__name__})")
        if not isinstance(answer, dict) or "error" in answer:
            return ProbeResult(ProbeFault.NO_ANSWER, f"JetStream refused: {str(answer)[:200]}")
        if self._gone_after is not None:
            missing = self._wanted_streams() - set(answer.get("streams") or [])
            if missing:
                return ProbeResult(ProbeFault.MISSING, ", ".join(sorted(missing)))
        return ProbeResult()

    def start_probe(self) -> None:
        """Probe every ``bus.probe_interval``; the daemon's bus only (the CLI's is short-lived)."""
        if not self._probe:
            self._probe.spawn(self._probe_loop(), "loop")

    async def _probe_loop(self) -> None:
        failures = 0
        while not self._closing:
            await asyncio.sleep(self.config.probe_interval)
            res = await self.probe()
            if res.fault is ProbeFault.MISSING:
                logger.warning("bus: {}; recreating them", res)
                await self._restore_topology()
                res = await self.probe()
            self._record_probe(res)
            failures = 0 if res.ok else failures + 1
            if res.fault is ProbeFault.READ_LOOP_DEAD or (
                res.fault is ProbeFault.NO_ANSWER and failures >= REBUILD_AFTER_FAILURES
            ):
                await self._rebuild(res)
                failures = 0

    def _record_probe(self, res: ProbeResult) -> None:
        if res.ok and not self.status.usable:
            logger.info("bus usable again ({})", self.status.server)
        elif not res.ok and self.status.usable:
            logger.warning("bus not usable: {}", res)
        if res.ok != self.status.usable:
            self.status.last_change = time.time()
        self.status.usable = res.ok
        self.status.probe_error = None if res.ok else str(res)

    async def _rebuild(self, res: ProbeResult) -> None:
        nc = self._nc
        if nc is None or nc.is_closed or nc.is_reconnecting or self._closing:
            return
        logger.warning("bus: {}; dropping the connection and reconnecting", res)
        self.status.rebuilds += 1
        # nats-py's own path for a stale connection (what its ping timer takes after
        # max_outstanding_pings): close the transport, reconnect, re-send every subscription (KV
        # watchers and consumers included) and call reconnected_cb, which restores the topology.
        await nc._process_op_err(nats.errors.StaleConnectionError())

    async def kv(self, bucket: str) -> KeyValue:
        if bucket not in self._kv:
            try:
                self._kv[bucket] = await self.js.key_value(bucket)
            except nats.js.errors.BucketNotFoundError:
                raise BusError(f"bucket {bucket} does not exist; is a Hydra daemon running on this bus?") from None
        return self._kv[bucket]

    async def request(self, subject: str, payload: bytes, timeout: float | None = None) -> bytes:
        try:
            msg = await self.nc.request(subject, payload, timeout=timeout or self.config.request_timeout)
        except nats.errors.NoRespondersError:
            raise BusError(f"nobody answers on {subject}") from None
        except nats.errors.TimeoutError:
            raise BusError(f"no answer on {subject} within {timeout or self.config.request_timeout}s") from None
        return msg.data

    async def close(self) -> None:
        self._closing = True
        await self._probe.close()
        await self._topology.close()
        if self._nc is not None and not self._nc.is_closed:
            try:
                await asyncio.wait_for(self._nc.drain(), 5.0)
            except (TimeoutError, nats.errors.Error, OSError):
                # close() flushes what is pending first, which a frozen server may never take: bound it
                with contextlib.suppress(TimeoutError, nats.errors.Error, OSError):
                    await asyncio.wait_for(self._nc.close(), 5.0)
        self._nc = None
        self._js = None
        self._kv.clear()
        self.status.connected = False

    async def __aenter__(self) -> Bus:
        await self.connect()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
