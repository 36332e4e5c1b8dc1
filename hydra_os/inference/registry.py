"""The endpoint registry: announce endpoints into ``hydra_models`` and keep a live view of all of them.

Writers: a GPU node's model manager announces what its engines serve; the gateway announces the
static endpoints from config. ``announce(info)`` puts the entry now and a refresh loop re-puts it
every ``refresh_interval`` while this registry runs (the bucket has a TTL, so an entry lives only
while its announcer does). ``withdraw(id)`` deletes it. ``stop()`` withdraws everything this node
announced.

Readers: every registry holds a core subscription on the bucket's subject (like membership), so it
sees puts and deletes as they happen. An entry leaves the view when it is deleted, when it has not
been refreshed for ``gone_after`` seconds (by the watcher's local clock), or when its node has left
the cluster (per :class:`~hydra_os.node.membership.Membership`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from loguru import logger
from nats.aio.msg import Msg
from pydantic import ValidationError

from hydra_os.bus import names
from hydra_os.bus.client import Bus, kv_values
from hydra_os.inference.endpoint import EndpointInfo
from hydra_os.lifecycle import Lifecycle
from hydra_os.node.membership import Membership

Listener = Callable[[str, EndpointInfo | None], None]
"""Called with (endpoint id, info) on every put and (endpoint id, None) when it leaves the view."""

LiveState = Callable[[EndpointInfo], EndpointInfo]
"""Given the announced info, the info with its current health/load figures (applied at each refresh)."""

_KV_PREFIX = names.kv_subject(names.MODELS_BUCKET, "")


class _Seen:
    __slots__ = ("first", "info", "last")

    def __init__(self, info: EndpointInfo, now: float) -> None:
        self.info = info
        self.first = now  # local monotonic time first seen
        self.last = now  # local monotonic time of the last put


class EndpointRegistry(Lifecycle):
    """Component ``endpoints``: one per node, shared by the gateway and the model manager."""

    name = "endpoints"

    def __init__(
        self,
        bus: Bus,
        node_id: str,
        *,
        membership: Membership | None = None,
        refresh_interval: float = 1.0,
        gone_after: float = 3.0,
    ) -> None:
        if gone_after <= refresh_interval:
            raise ValueError(
                f"gone_after ({gone_after}) must be larger than refresh_interval ({refresh_interval})"
            )
        self.bus = bus
        self.node_id = node_id
        self.membership = membership
        self.refresh_interval = refresh_interval
        self.gone_after = gone_after
        self._view: dict[str, _Seen] = {}
        self._mine: dict[str, EndpointInfo] = {}
        self._live: dict[str, LiveState] = {}
        self._listeners: list[Listener] = []
        self._snapshot: list[EndpointInfo] | None = None  # endpoints(), rebuilt after a change
        self._departed: set[str] = set()  # nodes whose endpoints were dropped because they left
        self._sub: Any = None
        self._started = False
        self._stopped = False
        self._lock = asyncio.Lock()  # a withdraw never races a refresh that would put the entry back
        self.last_error: str | None = None

    # ---- reading -----------------------------------------------------------------------
    def endpoints(self) -> list[EndpointInfo]:
        """Every endpoint in the live view (this node's own announcements included). Do not mutate."""
        if self._snapshot is None:
            self._snapshot = [s.info for s in self._view.values()]
        return self._snapshot

    def get(self, endpoint_id: str) -> EndpointInfo | None:
        s = self._view.get(endpoint_id)
        return s.info if s else None

    def mine(self) -> list[EndpointInfo]:
        """What this registry announces."""
        return list(self._mine.values())

    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    # ---- writing -----------------------------------------------------------------------
    async def announce(self, info: EndpointInfo, live: LiveState | None = None) -> None:
        """Put ``info`` now (or at start) and keep it alive until withdrawn. Re-announce to update it.

        ``live``, when given, is applied to ``info`` at every refresh to fill in the current health,
        in-flight count, EWMA latency and tokens/s (cheap and synchronous; it must not change the id).
        """
        self._mine[info.id] = info
        if live is not None:
            self._live[info.id] = live
        else:
            self._live.pop(info.id, None)
        if self._started:
            self._seen(info.id, info)
            await self._put(info)

    async def update(self, endpoint_id: str, **changes: Any) -> EndpointInfo:
        """Change fields of an announced endpoint (health, in-flight...) and put it now."""
        cur = self._mine.get(endpoint_id)
        if cur is None:
            raise KeyError(f"endpoint {endpoint_id} is not announced by this node")
        info = cur.model_copy(update=changes)
        await self.announce(info)
        return info

    async def withdraw(self, endpoint_id: str) -> None:
        """Stop announcing and delete the entry. Unknown ids are ignored."""
        async with self._lock:
            self._mine.pop(endpoint_id, None)
            self._live.pop(endpoint_id, None)
            if self._started:
                try:
                    kv = await self.bus.kv(names.MODELS_BUCKET)
                    await kv.delete(endpoint_id)
                except Exception as e:  # the TTL removes it anyway
                    logger.warning("could not withdraw endpoint {}: {}", endpoint_id, e)
        self._drop(endpoint_id)

    async def _put(self, info: EndpointInfo) -> None:
        async with self._lock:
            if self._mine.get(info.id) is not info:
                return  # withdrawn or replaced meanwhile
            live = self._live.get(info.id)
            fresh = (live(info) if live is not None else info).model_copy(update={"updated_at": time.time()})
            kv = await self.bus.kv(names.MODELS_BUCKET)
            await kv.put(info.id, fresh.model_dump_json().encode())

    # ---- lifecycle ---------------------------------------------------------------------
    async def _start(self) -> None:
        if self._started:
            return
        kv = await self.bus.kv(names.MODELS_BUCKET)
        self._sub = await self.bus.nc.subscribe(names.kv_subject(names.MODELS_BUCKET), cb=self._on_msg)
        now_wall, now_mono = time.time(), time.monotonic()
        for key, value in await kv_values(kv):
            try:
                info = EndpointInfo.model_validate_json(value)
            except ValidationError:
                continue
            age = max(0.0, now_wall - info.updated_at)
            if age < self.gone_after and key not in self._view:
                seen = _Seen(info, now_mono - age)
                self._view[key] = seen
                self._notify(key, info)
        self._started = True
        for info in list(self._mine.values()):
            self._seen(info.id, info)
            await self._put(info)
        self.background.spawn(self._refresh_loop(), "refresh")
        self.background.spawn(self._sweep_loop(), "sweep")

    async def _stop(self) -> None:
        """Withdraw everything this node announced and stop watching. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        await self.background.close()
        if self._started:
            for endpoint_id in list(self._mine):
                await self.withdraw(endpoint_id)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        self._started = False

    def _details(self) -> dict[str, Any]:
        return {
            "endpoints": sorted(self._view),
            "announced": sorted(self._mine),
            "last_error": self.last_error,
        }

    # ---- internals ---------------------------------------------------------------------
    async def _on_msg(self, msg: Msg) -> None:
        key = msg.subject[len(_KV_PREFIX):]
        headers = msg.headers or {}
        op = headers.get("KV-Operation") or headers.get("Nats-Marker-Reason")
        if op or not msg.data:
            self._drop(key)
            return
        try:
            info = EndpointInfo.model_validate_json(msg.data)
        except ValidationError:
            logger.warning("ignoring malformed endpoint entry on {}", msg.subject)
            return
        self._seen(key, info)

    def _seen(self, key: str, info: EndpointInfo) -> None:
        if info.node in self._departed:
            if self.membership is None or info.node not in self.membership.peers:
                return  # a node that left does not come back through a stray refresh, only by rejoining
            self._departed.discard(info.node)
        now = time.monotonic()
        self._snapshot = None
        seen = self._view.get(key)
        if seen is None:
            logger.info("endpoint {} ({} on {}, tier {}) joined", key, info.model, info.node, info.tier)
            self._view[key] = _Seen(info, now)
        else:
            seen.info = info
            seen.last = now
        self._notify(key, info)

    def _drop(self, key: str) -> None:
        if self._view.pop(key, None) is not None:
            self._snapshot = None
            logger.info("endpoint {} left", key)
            self._notify(key, None)

    def _notify(self, key: str, info: EndpointInfo | None) -> None:
        for fn in self._listeners:
            try:
                fn(key, info)
            except Exception:
                logger.exception("endpoint listener failed")

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            for info in list(self._mine.values()):
                try:
                    await self._put(info)
                    self.last_error = None
                except Exception as e:  # bus down: keep trying, status reports it
                    self.last_error = f"{type(e).__name__}: {e}"

    async def _sweep_loop(self) -> None:
        period = min(0.2, self.refresh_interval / 2)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            peers = self.membership.peers if self.membership is not None else None
            for key, seen in list(self._view.items()):
                if key in self._mine:
                    continue
                if now - seen.last > self.gone_after:
                    logger.warning("endpoint {} gone: not refreshed for {:.1f}s", key, now - seen.last)
                    self._drop(key)
                elif peers is not None and seen.info.node not in peers and now - seen.first > self.gone_after:
                    logger.warning("endpoint {} gone: node {} left", key, seen.info.node)
                    self._departed.add(seen.info.node)
                    self._drop(key)
