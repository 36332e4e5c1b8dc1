"""Signed-in browsers, kept server-side (in the daemon's memory).

The cookie holds only a random session id (256 bits), never the API token: stealing it gives a
session that expires (``ui.session_ttl``), and signing out or restarting the daemon ends it. Each
session has its own CSRF token (synchronizer pattern): every state-changing form carries it and
the server compares it in constant time. The table is bounded (``ui.max_sessions``); when full the
oldest sign-in is dropped, so repeated sign-ins cannot grow the daemon's memory.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str
    created_at: float
    expires_at: float


class SessionStore:
    def __init__(self, ttl: float, max_sessions: int, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.max_sessions = max_sessions
        self.clock = clock
        self._by_id: OrderedDict[str, Session] = OrderedDict()
        self._flash: dict[str, tuple[str, bool]] = {}  # a form's one-line result, shown once on the next page

    def create(self) -> Session:
        now = self.clock()
        s = Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), created_at=now,
                    expires_at=now + self.ttl)
        self._by_id[s.id] = s
        while len(self._by_id) > self.max_sessions:
            self._flash.pop(self._by_id.popitem(last=False)[0], None)
        return s

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        s = self._by_id.get(session_id)
        if s is None:
            return None
        if self.clock() >= s.expires_at:
            self.end(session_id)
            return None
        return s

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)
            self._flash.pop(session_id, None)

    def flash(self, session_id: str, message: str, *, error: bool) -> None:
        if session_id in self._by_id:
            self._flash[session_id] = (message, error)

    def take_flash(self, session_id: str) -> tuple[str, bool] | None:
        return self._flash.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._by_id)


def csrf_ok(session: Session, offered: str | None) -> bool:
    return offered is not None and hmac.compare_digest(session.csrf.encode(), offered.encode())
