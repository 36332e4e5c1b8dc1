"""One streamed call of the node's own ASGI app, in-process: the page's way to read a streaming ``/v1``
route (the Ask page's answer) as the route writes it.

:class:`~hydra_os.ui.nodeapi.NodeApi` calls the app through httpx's ``ASGITransport``, which collects a
response's whole body before it answers; a stream must reach the browser piece by piece, so this drives
the app's ASGI interface itself: the request is sent whole, each ``http.response.body`` message is handed
on as it comes, and when the reader stops early (the browser went away) the app sees
``http.disconnect`` and its task is cancelled, as a server would do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Asgi = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                Awaitable[None]]


class AsgiStream:
    def __init__(self, app: Asgi, path: str, body: Any, headers: dict[str, str]) -> None:
        self._app = app
        raw = json.dumps(body).encode()
        hdrs = {**headers, "content-type": "application/json", "content-length": str(len(raw))}
        self._scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in hdrs.items()],
            "server": ("node", 80), "client": ("127.0.0.1", 0),
        }
        self._request: list[Message] = [{"type": "http.request", "body": raw, "more_body": False}]
        self._out: asyncio.Queue[Message] = asyncio.Queue()
        self._gone = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._complete = False

    async def _receive(self) -> Message:
        if self._request:
            return self._request.pop()
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        await self._out.put(message)

    async def _run(self) -> None:
        try:
            await self._app(self._scope, self._receive, self._send)
        finally:  # the app ended (or failed) without finishing its answer: the reader must not wait on
            await self._out.put({"type": "http.response.body", "body": b"", "more_body": False})

    async def open(self, timeout: float) -> tuple[int, AsyncIterator[bytes]]:
        """Start the call: its status, and its body as it comes (close it, or read it to the end)."""
        self._task = asyncio.create_task(self._run())
        try:
            async with asyncio.timeout(timeout):
                start = await self._out.get()
        except BaseException:
            await self.close()
            raise
        if start.get("type") != "http.response.start":  # the app ended without answering
            await self.close()
            return 502, self._body()
        return int(start["status"]), self._body()

    async def whole(self, body: AsyncIterator[bytes]) -> bytes:
        out = b""
        async for chunk in body:
            out += chunk
        return out

    async def _body(self) -> AsyncIterator[bytes]:
        try:
            while True:
                msg = await self._out.get()  # bounded by the route (the intake's idle timeout per chunk)
                if msg.get("body"):
                    yield bytes(msg["body"])
                if not msg.get("more_body", False):
                    self._complete = True
                    return
        finally:
            await self.close()

    async def close(self) -> None:
        """The reader is done (or gone): the app sees ``http.disconnect``; one still running is cancelled."""
        self._gone.set()
        if self._task is None:
            return
        if self._complete:  # the whole answer was read: the app returns by itself
            await asyncio.wait({self._task}, timeout=1.0)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task  # a route's own failure was answered (or logged) by the app already
