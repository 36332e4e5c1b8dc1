"""Scheduler leadership: one leader in the cluster through a lock in the ``hydra_leader`` KV bucket.

- Acquire: ``create(scheduler)`` succeeds for exactly one node.
- Renew: every ``renew_s`` the leader ``update()`` s the key with the revision it last wrote; a wrong
  revision means someone else took over -> the leader steps down at once.
- Take over: a follower remembers the key's revision and when (by its own monotonic clock) it last
  changed; unchanged for ``lease_s`` -> the leader is presumed dead and the follower ``update()`` s with
  that revision (compare-and-set, so exactly one follower wins). The bucket's TTL removes a dead
  leader's key as a backstop; a node stopping cleanly deletes it so a follower takes over at once.
- A leader that cannot renew for ``lease_s - renew_s`` steps down before a follower may take over.
- A node whose leader duties fail to start (``on_elected`` raises: a corrupt job store, say) gives the
  lock up and sits out of the election for ``start_backoff_s``, doubling per failure up to
  ``start_backoff_max_s`` and reset by a successful start, so a healthy peer leads instead of the
  broken node re-winning the free lock twice a second. ``start_error`` says why (status, healing).

A new leader is elected within about ``lease_s + poll_s`` of the old one dying (3.5 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import nats.js.errors
from loguru import logger

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.lifecycle import Background

Hook = Callable[[], Awaitable[None]]
Conflict = nats.js.errors.KeyWrongLastSequenceError


class LeaderLock:
    def __init__(
        self, bus: Bus, node_id: str, *, lease_s: float = 3.0, renew_s: float = 1.0, poll_s: float = 0.5,
        on_elected: Hook | None = None, on_lost: Hook | None = None, key: str = names.SCHEDULER_LEADER_KEY,
        start_backoff_s: float = 2.0, start_backoff_max_s: float = 60.0,
    ) -> None:
        self.bus = bus
        self.node_id = node_id
        self.lease_s, self.renew_s, self.poll_s = lease_s, renew_s, poll_s
        self.on_elected, self.on_lost = on_elected, on_lost
        self.key = key
        self.token = uuid.uuid4().hex[:12]
        self.is_leader = False
        self.leader: str | None = None
        self.since: float | None = None
        self.elections = 0
        self._rev = 0
        self._seen: tuple[int, float] = (0, 0.0)
        self._last_ok = 0.0
        self._tasks = Background("scheduler", bound_s=max(5.0, renew_s * 3))
        self._stopping = False
        self.start_backoff_s, self.start_backoff_max_s = start_backoff_s, start_backoff_max_s
        self.start_failures = 0  # consecutive failed starts as leader
        self.start_error: str | None = None
        self._sit_out_until = 0.0

    def _value(self) -> bytes:
        return json.dumps({"node": self.node_id, "token": self.token, "since": self.since, "at": time.time()}).encode()

    async def start(self) -> None:
        self._stopping = False
        self._tasks.spawn(self._loop(), "leader")

    async def _loop(self) -> None:
        kv = await self.bus.kv(names.LEADER_BUCKET)
        while not self._stopping:  # a flag too: nats-py's wait_for may swallow a cancellation on 3.11
            try:
                if self.is_leader:
                    await self._renew(kv)
                elif time.monotonic() >= self._sit_out_until:
                    await self._try_acquire(kv)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.debug("leader lock: {}: {}", type(e).__name__, e)
                if self.is_leader and time.monotonic() - self._last_ok > self.lease_s - self.renew_s:
                    await self._lose(f"cannot renew the lock ({type(e).__name__})")
            await asyncio.sleep(self.renew_s if self.is_leader else self.poll_s)

    async def _try_acquire(self, kv: Any) -> None:
        try:
            self.since = time.time()
            rev = await kv.create(self.key, self._value())
            await self._win(rev, "lock was free")
            return
        except Conflict:
            pass
        try:
            entry = await kv.get(self.key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return  # expired between the two calls: try again next round
        rev = int(entry.revision or 0)
        with contextlib.suppress(ValueError, TypeError):
            self.leader = json.loads(entry.value or b"{}").get("node")
        now = time.monotonic()
        if rev != self._seen[0]:
            self._seen = (rev, now)
            return
        if now - self._seen[1] >= self.lease_s:
            try:
                new_rev = await kv.update(self.key, self._value(), last=rev)
            except Conflict:
                return
            await self._win(new_rev, f"took over from {self.leader}: no renewal for {now - self._seen[1]:.1f}s")

    async def _win(self, rev: int, why: str) -> None:
        self._rev, self.is_leader, self.leader = rev, True, self.node_id
        self._last_ok = time.monotonic()
        self.elections += 1
        logger.info("node {} is the scheduler leader ({})", self.node_id, why)
        if self.on_elected is not None:
            try:
                await self.on_elected()
            except Exception as e:
                self._start_failed(f"{type(e).__name__}: {e}")
                await self._lose("start failed", release=True)
                return
        self.start_failures, self.start_error = 0, None

    def _start_failed(self, error: str) -> None:
        self.start_failures += 1
        pause = min(self.start_backoff_s * 2 ** (self.start_failures - 1), self.start_backoff_max_s)
        self._sit_out_until = time.monotonic() + pause
        if error != self.start_error:  # one line per distinct cause, not one per retry
            logger.error("scheduler failed to start as leader: {}; sitting out of the election", error)
        else:
            logger.debug("scheduler failed to start as leader again ({} times)", self.start_failures)
        self.start_error = error

    async def _renew(self, kv: Any) -> None:
        try:
            self._rev = await kv.update(self.key, self._value(), last=self._rev)
            self._last_ok = time.monotonic()
        except Conflict:
            await self._lose("another node took the lock")

    async def _lose(self, why: str, *, release: bool = False) -> None:
        if not self.is_leader:
            return
        self.is_leader = False
        self.since = None
        logger.warning("node {} is no longer the scheduler leader: {}", self.node_id, why)
        if self.on_lost is not None:
            with contextlib.suppress(Exception):
                await self.on_lost()
        if release:
            await self._release()

    async def _release(self) -> None:
        with contextlib.suppress(Exception):
            kv = await self.bus.kv(names.LEADER_BUCKET)
            await kv.delete(self.key, last=self._rev)

    async def stop(self) -> None:
        """Stop campaigning; a leader steps down and deletes the lock so a follower takes over at once."""
        self._stopping = True
        await self._tasks.close()
        if self.is_leader:
            await self._lose("stopping", release=True)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "is_leader": self.is_leader, "leader": self.leader, "since": self.since, "elections": self.elections,
        }
        if self.start_error is not None:
            out["start_error"] = self.start_error
            out["start_failures"] = self.start_failures
        return out


async def current_leader(bus: Bus) -> dict[str, Any] | None:
    """The lock's holder as written by it ({node, token, since, at}), or None when no one leads."""
    kv = await bus.kv(names.LEADER_BUCKET)
    try:
        entry = await kv.get(names.SCHEDULER_LEADER_KEY)
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
        return None
    try:
        value = json.loads(entry.value or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
