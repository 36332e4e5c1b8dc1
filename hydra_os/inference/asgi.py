"""Bare ASGI plumbing for the hot path: no Request/Response objects, no task group per stream.

:class:`Endpoint` is an ASGI app used as a Starlette route endpoint (Starlette calls an object that is
not a function as ASGI directly). It reads the body, asks its handler for a reply and sends it.
:class:`Reply` is a complete answer; :class:`StreamReply` relays an async iterator of byte chunks and
watches ``receive()`` for ``http.disconnect`` meanwhile: a client that goes away cancels the relay at
once (even while it waits for the next upstream chunk), which closes the upstream connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _headers(content_type: str, extra: Mapping[str, str], length: int | None) -> list[tuple[bytes, bytes]]:
    out = [(b"content-type", content_type.encode("latin-1"))]
    if length is not None:
        out.append((b"content-length", str(length).encode()))
    out.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items())
    return out


class Reply:
    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(self, status: int, body: bytes, content_type: str = "application/json",
                 headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}

    async def send(self, send: Send, receive: Receive) -> None:
        await send({"type": "http.response.start", "status": self.status,
                    "headers": _headers(self.content_type, self.headers, len(self.body))})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class StreamReply:
    __slots__ = ("chunks", "content_type", "headers", "status")

    def __init__(self, status: int, chunks: AsyncIterator[bytes], content_type: str,
                 headers: Mapping[str, str]) -> None:
        self.status = status
        self.chunks = chunks
        self.content_type = content_type
        self.headers = headers

    async def send(self, send: Send, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            task.cancel()

        watcher = asyncio.create_task(watch())
        try:
            await send({"type": "http.response.start", "status": self.status,
                        "headers": _headers(self.content_type, self.headers, None)})
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()  # the client left: a normal end of this request, not a cancellation
        except OSError:
            pass  # the client's socket broke while sending
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()


Handler = Callable[[Scope, bytes], Awaitable[Reply | StreamReply]]


class Endpoint:
    """``Route(path, Endpoint(handler))``: the handler gets the scope and the whole body."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        reply = await self.handler(scope, body)
        await reply.send(send, receive)


App = Callable[[Scope, Receive, Send], Awaitable[None]]


class HotPaths:
    """ASGI app in front of the node's FastAPI app: exact ``(method, path)`` matches go straight to
    their :class:`Endpoint` (no middleware stack, no route matching); everything else to ``app``.

    The endpoints answer errors themselves (OpenAI shape), so skipping FastAPI's exception middleware
    changes no response. Use: ``HotPaths(fastapi_app, gateway.hot_paths())`` as the server's app.
    """

    def __init__(self, app: App, routes: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            ep = self.routes.get((scope["method"], scope["path"]))
            if ep is not None:
                await ep(scope, receive, send)
                return
        await self.app(scope, receive, send)
