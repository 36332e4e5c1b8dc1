"""Idempotent writes over the bus: a write carries a request id; a retry gets the first outcome.

A bus request that times out may still have been applied (the reply was lost, or the memory node
was slow or paused), so a client that retries blindly could append twice. Every write the
:class:`~memory.client.MemoryClient` sends carries a ``Hydra-Request-Id`` header; the service
remembers the outcome of recent ids and answers a repeat with the stored reply instead of running
the write again. A repeat that arrives while the first is still running waits for it.

Bounds: the newest ``size`` ids, each for ``ttl_s`` seconds (oldest dropped first), so a client
cannot grow the table without limit. Successful writes and input errors are remembered; a backend
failure is not (nothing was applied, so a retry should run it again).

With a ``path`` (the memory node: ``<state>/memory/requests.jsonl``) each remembered outcome is also
appended there (one line, ``fsync``) right after the write, and loaded at start, so a retry that
spans a restart of the memory node is still answered from the first run. The file is rewritten
(atomically) with only the live entries when it holds twice ``size`` lines. What remains: a crash
after the write and before its line is written forgets that one id.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from memory.core.atomic import atomic_write
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

    def __init__(self, size: int = 10_000, ttl_s: float = 3600.0, path: Path | None = None) -> None:
        self._size = size
        self._ttl = ttl_s
        self._path = path
        self._lines = 0
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

    # ------------------------------------------------------------------ persistence (blocking: to_thread)

    def load(self, loop: asyncio.AbstractEventLoop) -> int:
        """Read the remembered outcomes still within the TTL; a damaged line is skipped. Returns how many."""
        if self._path is None or not self._path.exists():
            return 0
        now_wall, now_mono = time.time(), time.monotonic()
        with self._path.open("rb") as f:
            for n, line in enumerate(f, 1):
                self._lines = n
                try:
                    d = json.loads(line)
                    at = now_mono - (now_wall - float(d["at"]))
                    out = Outcome(base64.b64decode(d["body"]), d.get("code"), str(d.get("message", "")))
                    rid, digest = str(d["id"]), str(d["digest"])
                except (ValueError, KeyError, TypeError):
                    logger.warning("memory request ids {}: line {} is unreadable; skipped", self._path, n)
                    continue
                if at < now_mono - self._ttl:
                    continue
                fut: asyncio.Future[Outcome] = loop.create_future()
                fut.set_result(out)
                self._entries.pop(rid, None)
                self._entries[rid] = (at, digest, fut)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return len(self._entries)

    def save(self, request_id: str) -> None:
        """Append a settled, remembered outcome to the file (compacting it when it has grown)."""
        entry = self._entries.get(request_id)
        if self._path is None or entry is None or not entry[2].done():
            return
        if self._lines >= 2 * self._size:
            done = [(r, e) for r, e in self._entries.items() if e[2].done()]
            atomic_write(self._path, b"".join(self._line(r, e) for r, e in done))
            self._lines = len(done)
            return
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, self._line(request_id, entry))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._lines += 1

    @staticmethod
    def _line(request_id: str, entry: tuple[float, str, asyncio.Future[Outcome]]) -> bytes:
        at, digest, fut = entry
        out = fut.result()
        wall = time.time() - (time.monotonic() - at)
        doc = {"id": request_id, "digest": digest, "at": wall, "code": out.code, "message": out.message,
               "body": base64.b64encode(out.body).decode()}
        return json.dumps(doc).encode() + b"\n"
