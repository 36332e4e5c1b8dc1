"""``/mcp`` on the node API: the MCP server over streamable HTTP, behind the node's bearer token.

Stateless with JSON replies: every POST is a whole MCP exchange, so no per-client session state piles
up on the node (a client that never closes its session holds nothing) and a tool call is one request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from loguru import logger
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route

from hydra_os.api.auth import BearerToken
from hydra_os.api.limits import Receive, Scope, Send
from hydra_os.component import NodeContext
from hydra_os.lifecycle import Lifecycle
from hydra_os.mcp.hub import Hub
from hydra_os.mcp.server import build_server

PATH = "/mcp"
_UNAUTHORIZED = json.dumps({"detail": "missing or wrong bearer token"}).encode()


class TokenGate:
    """ASGI: the bearer-token check of every other route (401, ``WWW-Authenticate: Bearer``), then MCP."""

    def __init__(self, auth: BearerToken, manager: StreamableHTTPSessionManager) -> None:
        self.auth = auth
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.auth.allows_scope(scope):
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                                    (b"content-length", str(len(_UNAUTHORIZED)).encode())]})
            await send({"type": "http.response.body", "body": _UNAUTHORIZED})
            return
        await self.manager.handle_request(scope, receive, send)


class McpComponent(Lifecycle):
    """Runs the session manager's task group for the node's lifetime and routes ``/mcp`` to it."""

    name = "mcp"

    def __init__(self, ctx: NodeContext, auth: BearerToken) -> None:
        server = build_server(Hub(ctx.bus, ctx.settings))
        # DNS-rebinding protection (Host/Origin allow-list) is off: the node API listens on the LAN under
        # any host name, and a browser page cannot send the bearer token every request needs anyway.
        server.streamable_http_app(stateless_http=True, json_response=True,
                                   transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        self.manager = server.session_manager
        self.gate = TokenGate(auth, self.manager)
        self._quit = asyncio.Event()

    def routes(self) -> Sequence[APIRouter]:
        r = APIRouter()
        # a Starlette route whose endpoint is an ASGI app (not a function): FastAPI passes the raw request
        r.routes.append(Route(PATH, endpoint=self.gate, methods=["GET", "POST", "DELETE"], include_in_schema=False))
        return [r]

    async def _run(self) -> None:
        async with self.manager.run():
            await self._quit.wait()

    async def _start(self) -> None:
        self._quit.clear()
        self.background.spawn(self._run(), "sessions")

    async def _stop(self) -> None:
        """The manager's task group ends on its own once told; one that hangs is cancelled (a failed one
        was logged by the Background when it crashed)."""
        self._quit.set()
        if self.background:
            _, pending = await asyncio.wait(self.background.tasks(), timeout=10)
            if pending:
                logger.warning("MCP session manager did not stop within 10s; cancelling it")
        await self.background.close()

    def _details(self) -> dict[str, Any]:
        return {"state": "running" if self.background else "stopped", "path": PATH}
