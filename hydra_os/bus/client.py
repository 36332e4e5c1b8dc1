"""The connection to the NATS bus: connect, reconnect, report, and create what Hydra needs.

``Bus`` wraps one ``nats.aio.client.Client``. It reconnects forever with a fixed wait plus jitter
between attempts (``bus.reconnect_wait``) across every known server of the cluster, and keeps a
small status record (connected, server, reconnect count, last error) for ``/v1/status``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
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
from hydra_os.bus.kvscan import kv_scan
from hydra_os.config import BusConfig, read_secret_file
from hydra_os.errors import BusError


@dataclass
class BusStatus:
    connected: bool = False
    server: str | None = None
    reconnects: int = 0
    disconnects: int = 0
    last_error: str | None = None
    last_change: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "server": self.server,
            "reconnects": self.reconnects,
            "disconnects": self.disconnects,
            "last_error": self.last_error,
            "last_change": self.last_change,
        }


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
        KeyValueConfig(bucket=names.TASKS_BUCKET, history=5, storage=StorageType.FILE, replicas=replicas),
        KeyValueConfig(bucket=names.APPROVALS_BUCKET, history=5, storage=StorageType.FILE, replicas=replicas),
        KeyValueConfig(bucket=names.LEADER_BUCKET, ttl=5.0, storage=StorageType.MEMORY, replicas=replicas),
    ]


async def kv_values(kv: KeyValue) -> list[tuple[str, bytes]]:
    """Every key of a bucket with its current (non-empty) value: a snapshot before watching live."""
    return [(item.key, item.value) for item in await kv_scan(kv)]


class Bus:
    """One NATS connection with JetStream. ``close()`` is idempotent."""

    def __init__(self, servers: list[str], config: BusConfig, *, name: str = "hydra") -> None:
        self.servers = servers
        self.config = config
        self.name = name
        self.status = BusStatus()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: dict[str, KeyValue] = {}
        self._closing = False

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
        options: dict[str, Any] = {}
        if self.config.token_file:
            options["token"] = read_secret_file(self.config.token_file, "bus token")
        if self.config.creds_file:
            options["user_credentials"] = str(self.config.creds_file)

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
            raise BusError(
                f"cannot reach NATS at {shown} ({str(e) or type(e).__name__}); "
                "check bus.url and that nats-server runs, or unset bus.url to use the embedded server"
            ) from None
        self._js = self._nc.jetstream(timeout=self.config.request_timeout)
        self.status.connected = True
        self.status.server = self._server_url()
        self.status.last_change = time.time()

    def _server_url(self) -> str | None:
        if self._nc is None or self._nc.connected_url is None:
            return None
        u = self._nc.connected_url
        return f"{u.scheme}://{u.hostname}:{u.port}"

    async def ensure_topology(self, gone_after: float) -> None:
        """Create (or update to the wanted config) every stream and bucket. Safe to run on every start."""
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
        if self._nc is not None and not self._nc.is_closed:
            try:
                await asyncio.wait_for(self._nc.drain(), 5.0)
            except (TimeoutError, nats.errors.Error, OSError):
                await self._nc.close()
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
