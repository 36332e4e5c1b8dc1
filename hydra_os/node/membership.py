"""Membership: heartbeat into ``hydra_nodes`` and keep a live view of every node.

Each node ``put``s its :class:`NodeInfo` every ``heartbeat_interval``. Every node also holds a
core subscription on the bucket's subject, so it sees heartbeats and deletes as they happen (core
subscriptions survive reconnects and server failover). A node not heard from for ``gone_after``
seconds (by the local clock of the watcher, so clock skew between nodes does not matter) is gone:
it leaves the view and a ``node.left`` event is published, deduplicated across watchers.
The bucket's TTL removes stale keys from storage on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import nats.errors
from loguru import logger
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from hydra_os.bus import names
from hydra_os.bus.client import Bus, kv_values
from hydra_os.errors import BusError
from hydra_os.events import EventLog
from hydra_os.lifecycle import Lifecycle
from hydra_os.node.info import NodeInfo

InfoFactory = Callable[[], Awaitable[NodeInfo]]


class Peer:
    __slots__ = ("info", "seen")

    def __init__(self, info: NodeInfo, seen: float) -> None:
        self.info = info
        self.seen = seen  # local monotonic time of the last heartbeat


class Membership(Lifecycle):
    name = "membership"

    def __init__(
        self,
        bus: Bus,
        events: EventLog,
        node_id: str,
        make_info: InfoFactory,
        *,
        heartbeat_interval: float = 1.0,
        gone_after: float = 3.0,
    ) -> None:
        self.bus = bus
        self.events = events
        self.node_id = node_id
        self.make_info = make_info
        self.heartbeat_interval = heartbeat_interval
        self.gone_after = gone_after
        self.peers: dict[str, Peer] = {}
        self.registered = False
        self.last_heartbeat_error: str | None = None

        self._sub: Subscription | None = None
        self._stopped = False

    async def _start(self) -> None:
        kv = await self.bus.kv(names.NODES_BUCKET)
        self._sub = await self.bus.nc.subscribe(names.kv_subject(names.NODES_BUCKET), cb=self._on_msg)
        # existing members, judged by their own heartbeat time (the best we have before hearing them)
        now_wall, now_mono = time.time(), time.monotonic()
        for key, value in await kv_values(kv):
            info = NodeInfo.model_validate_json(value)
            age = max(0.0, now_wall - info.heartbeat_at)
            if age < self.gone_after and key != self.node_id:
                self.peers[key] = Peer(info, now_mono - age)
        info = await self.make_info()
        await kv.put(self.node_id, info.model_dump_json().encode())
        self.peers[self.node_id] = Peer(info, time.monotonic())
        self.registered = True
        await self.events.publish(
            names.NODE_EVENT_JOINED,
            {"node": self.node_id, "incarnation": info.incarnation, "roles": info.roles},
            dedup_id=f"joined:{self.node_id}:{info.incarnation}",
        )
        self.background.spawn(self._heartbeat_loop(), "heartbeat")
        self.background.spawn(self._sweep_loop(), "sweep")

    async def _on_msg(self, msg: Msg) -> None:
        key = msg.subject.rsplit(".", 1)[-1]
        op = (msg.headers or {}).get("KV-Operation") or (msg.headers or {}).get("Nats-Marker-Reason")
        if op or not msg.data:
            peer = self.peers.pop(key, None)
            if peer is not None and key != self.node_id:
                logger.info("node {} left", key)
            return
        try:
            info = NodeInfo.model_validate_json(msg.data)
        except ValueError:
            logger.warning("ignoring malformed heartbeat on {}", msg.subject)
            return
        if key not in self.peers and key != self.node_id:
            logger.info("node {} joined (roles {})", key, ",".join(info.roles))
        self.peers[key] = Peer(info, time.monotonic())

    async def _heartbeat_loop(self) -> None:
        kv = await self.bus.kv(names.NODES_BUCKET)
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                info = await self.make_info()
                await kv.put(self.node_id, info.model_dump_json().encode())
                self.last_heartbeat_error = None
            except Exception as e:  # bus down: keep trying, status reports it
                self.last_heartbeat_error = f"{type(e).__name__}: {e}"
                logger.debug("heartbeat failed: {}", self.last_heartbeat_error)

    async def _sweep_loop(self) -> None:
        period = min(0.1, self.heartbeat_interval / 4)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for node_id, peer in list(self.peers.items()):
                if node_id == self.node_id or now - peer.seen <= self.gone_after:
                    continue
                self.peers.pop(node_id, None)
                logger.warning("node {} gone: no heartbeat for {:.1f}s", node_id, now - peer.seen)
                with contextlib.suppress(Exception):
                    await self.events.publish(
                        names.NODE_EVENT_LEFT,
                        {"node": node_id, "incarnation": peer.info.incarnation, "reason": "heartbeat timeout"},
                        dedup_id=f"left:{node_id}:{peer.info.incarnation}",
                    )

    def nodes(self) -> list[NodeInfo]:
        return [p.info for _, p in sorted(self.peers.items())]

    async def _stop(self) -> None:
        """Leave the cluster on purpose: delete our key and say so. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        await self.background.close()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        if self.registered:
            me = self.peers.get(self.node_id)
            try:
                kv = await self.bus.kv(names.NODES_BUCKET)
                await kv.delete(self.node_id)
                if me is not None:
                    await self.events.publish(
                        names.NODE_EVENT_LEFT,
                        {"node": self.node_id, "incarnation": me.info.incarnation, "reason": "shutdown"},
                        dedup_id=f"left:{self.node_id}:{me.info.incarnation}",
                    )
            except (BusError, Exception) as e:
                logger.warning("could not deregister from the bus: {}", e)
            self.registered = False


async def read_nodes(bus: Bus, gone_after: float) -> list[NodeInfo]:
    """Every node whose last heartbeat is younger than ``gone_after`` (for the CLI and the web page).
    A bus that does not answer in time is a :class:`BusError` (the listing's nats errors, translated)."""
    kv = await bus.kv(names.NODES_BUCKET)
    try:
        values = await kv_values(kv)
    except (nats.errors.Error, TimeoutError) as e:
        raise BusError(f"reading the node list: the bus did not answer ({type(e).__name__})") from None
    out = []
    for _, value in values:
        info = NodeInfo.model_validate_json(value)
        if info.age <= gone_after:
            out.append(info)
    return sorted(out, key=lambda n: n.id)
