"""Idempotent writes over the bus: a write carries a request id; a retry gets the first outcome.

A bus request that times out may still have been applied (the reply was lost, or the memory node
was slow or paused), so a client that retries blindly could append twice. Every write the
:class:`~memory.service.MemoryClient` sends carries a ``Hydra-Request-Id`` header; the service
remembers the outcome of recent ids and answers a repeat with the stored reply instead of running
the write again. A repeat that arrives while the first is still running waits for it.

Bounds: the newest ``size`` ids, each for ``ttl_s`` seconds (oldest dropped first), so a client
cannot grow the table without limit. Successful writes and input errors are remembered; a backend
failure is not (nothing was applied, so a retry should run it again). The table lives in memory:
a restart of the memory node forgets it (writes that are idempotent by content, like archival
passages, stay so across restarts; a core append retried across a restart is applied again).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass

from memory.errors import MemoryInputError

REQUEST_ID_HEADER = "Hydra-Request-Id"
MAX_REQUEST_ID = 128


@dataclass(frozen=True)
class Outcome:
    """A reply as sent: a JSON body, and for an error the micro error code and description."""

    body: bytes
    code: str | None = None
    message: str = ""

    @property
    def remembered(self) -> bool:
        """Kept for retries: a result, or an error that a retry would only repeat (bad input, not found)."""
        return self.code is None or self.code in ("400", "404")


def request_digest(verb: str, data: bytes) -> str:
    return hashlib.sha256(verb.encode() + b"\0" + data).hexdigest()


class RecentRequests:
    """Outcomes of recent writes by request id (LRU, bounded in count and age)."""

    def __init__(self, size: int = 10_000, ttl_s: float = 3600.0) -> None:
        self._size = size
        self._ttl = ttl_s
        self._entries: OrderedDict[str, tuple[float, str, asyncio.Future[Outcome]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def claim(self, request_id: str, digest: str) -> tuple[bool, asyncio.Future[Outcome]]:
        """``(True, f)`` the first time: the caller runs the write, then :meth:`settle` with ``f``.
        ``(False, f)`` for a repeat: ``f`` is (or will be) the first run's outcome."""
        if not request_id or len(request_id) > MAX_REQUEST_ID:
            raise MemoryInputError(f"{REQUEST_ID_HEADER}: expected 1-{MAX_REQUEST_ID} characters")
        self._expire()
        hit = self._entries.get(request_id)
        if hit is not None:
            if hit[1] != digest:
                raise MemoryInputError(
                    f"{REQUEST_ID_HEADER} {request_id!r} was already used for a different request; "
                    "use a new id for each write and the same id only to retry it"
                )
            self._entries.move_to_end(request_id)
            return False, hit[2]
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._entries[request_id] = (time.monotonic(), digest, fut)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return True, fut

    def settle(self, request_id: str, fut: asyncio.Future[Outcome], outcome: Outcome) -> None:
        """Record the first run's outcome: waiting repeats get it; it is kept if a retry should see it."""
        if not fut.done():
            fut.set_result(outcome)
        entry = self._entries.get(request_id)
        if entry is not None and entry[2] is fut and not outcome.remembered:
            del self._entries[request_id]

    def _expire(self) -> None:
        cutoff = time.monotonic() - self._ttl
        while self._entries:
            _, (at, _, fut) = next(iter(self._entries.items()))
            if at >= cutoff or not fut.done():
                return
            self._entries.popitem(last=False)
