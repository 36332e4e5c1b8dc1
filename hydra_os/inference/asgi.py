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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from hydra_os.api.limits import DEFAULT_MAX_BODY, App, Receive, Scope, Send, declared_length, send_too_large


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
Guard = Callable[[Scope], Reply | None]


class Endpoint:
    """``Route(path, Endpoint(handler))``: the handler gets the scope and the whole body.

    ``guard`` (the bearer-token check) sees the headers before a byte of the body is read and may
    answer instead of the handler; a body over ``max_body`` bytes is refused with 413 as soon as its
    ``Content-Length`` (then the connection is closed) or the bytes read so far say so. The body's
    chunks are collected in a list and joined once (linear in the body size).
    """

    def __init__(self, handler: Handler, *, guard: Guard | None = None, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.handler = handler
        self.guard = guard
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.guard is not None and (refused := self.guard(scope)) is not None:
            await refused.send(send, receive)
            return
        limit = self.max_body
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await send_too_large(send, limit, close=True)
            return
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        body: bytes = msg.get("body", b"")
        if msg.get("more_body", False):  # rare for JSON requests: most arrive in one message
            chunks = [body]
            size = len(body)
            more = True
            while more:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    return
                chunk = msg.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await send_too_large(send, limit, close=False)
                    return
                chunks.append(chunk)
                more = msg.get("more_body", False)
            body = b"".join(chunks)
        elif len(body) > limit:
            await send_too_large(send, limit, close=False)
            return
        reply = await self.handler(scope, body)
        await reply.send(send, receive)


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
