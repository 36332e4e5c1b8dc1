"""The web page as a node component: sessions, sign-in throttle, phone links, live feed.

Built by :mod:`hydra_os.wiring` on gateway nodes (``ui.enabled``). Its routes are plain FastAPI
routes under ``/ui``; nothing of it sits in front of the gateway's hot paths (``/v1/chat/...`` is
answered before FastAPI's routing ever sees a request), so the page adds no work to inference.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request

from hydra_os.component import NodeContext
from hydra_os.lifecycle import Lifecycle
from hydra_os.notify import NotifyAction
from hydra_os.policy.approval_links import ApprovalLinks
from hydra_os.secrets import read_secret_file
from hydra_os.sections.ui import UiConfig
from hydra_os.ui.auditwatch import AuditWatch
from hydra_os.ui.feed import Feed
from hydra_os.ui.nodeapi import NodeApi
from hydra_os.ui.routes import build_router
from hydra_os.ui.sessions import Session, SessionStore
from hydra_os.ui.throttle import SignInThrottle
from hydra_os.ui.web import COOKIE, MAX_FORM
from memory.protocols import MemoryStack
from memory.wiring import memory_link

_OPEN_POSTS = ("/ui/login", "/ui/link/")


def _cookie(scope: Mapping[str, Any], name: str) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == b"cookie":
            for part in v.decode("latin-1").split(";"):
                key, _, value = part.strip().partition("=")
                if key == name:
                    return str(value)
    return None


def _length(scope: Mapping[str, Any]) -> int | None:
    for k, v in scope.get("headers", ()):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


class UiComponent(Lifecycle):
    name = "ui"

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.config: UiConfig = ctx.settings.ui
        self._token = read_secret_file(ctx.settings.api_token_path, "API token")
        self._password = (read_secret_file(self.config.password_file, "UI password")
                          if self.config.password_file else None)
        self.sessions = SessionStore(self.config.session_ttl, self.config.max_sessions)
        self.throttle = SignInThrottle()
        self.links = ApprovalLinks.open(ctx.state_dir)
        self.feed = Feed(ctx.bus, self.config.max_streams, AuditWatch(ctx.bus, self.background))
        self._api: NodeApi | None = None
        self._memory = memory_link(ctx.bus, ctx.settings.memory)

    # ---- component -------------------------------------------------------------------------
    async def _stop(self) -> None:
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    def _details(self) -> dict[str, Any]:
        return {"sessions": len(self.sessions),
                "live_streams": self.feed.open, "phone_links": self.config.public_url is not None}

    def routes(self) -> Sequence[APIRouter]:
        return [build_router(self)]

    # ---- what the routes use ---------------------------------------------------------------
    def api(self, request: Request) -> NodeApi:
        """The node's own /v1 routes, in-process (the app is known once a request arrives)."""
        if self._api is None:
            self._api = NodeApi(request.app, self._token)
        return self._api

    async def memory(self) -> MemoryStack:
        """Core blocks, facts and learnings over the bus: the client and stack ``hydra memory`` uses."""
        return await self._memory.get()  # one long-lived client, handshaken again after a memory node restart

    def credentials_ok(self, offered: str) -> bool:
        ok = hmac.compare_digest(offered.encode(), self._token.encode())
        if self._password is not None:
            ok = hmac.compare_digest(offered.encode(), self._password.encode()) or ok
        return ok

    def session_of(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def body_allowed(self, scope: Mapping[str, Any]) -> bool:
        """May this request send a body without the bearer token? Only small ones to the sign-in
        form, a phone link, or from a signed-in browser; everything else is refused unread (401)."""
        path = str(scope.get("path", ""))
        if not path.startswith("/ui/"):
            return False
        n = _length(scope)
        if n is None or n > MAX_FORM:
            return n is None and path.startswith("/ui/link/")  # ntfy's http action may send no length
        return path.startswith(_OPEN_POSTS) or self.sessions.get(_cookie(scope, COOKIE)) is not None

    def approval_buttons(self, approval_id: str | None, expires_at: float | None = None) -> list[NotifyAction]:
        """ntfy's Approve / Deny buttons for an approval (none without ``ui.public_url``)."""
        base = self.config.public_url
        if base is None or not approval_id:
            return []
        return self.links.buttons(base, approval_id,
                                  expires_at or time.time() + self.ctx.settings.policy.approval_expiry)
