"""The floor of a Python relay: what bench/router.py's "floor" row measures.

A pass-through OpenAI proxy with none of the gateway's logic (no parsing, routing, accounting,
metrics, fallback or disconnect watcher): uvicorn (uvloop + httptools, TCP_NODELAY as the daemon
sets it) in front, aiohttp to the backend, every chunk written as it comes. Hydra's gateway runs on
exactly this stack, so the difference between the "hydra" and "floor" rows is the gateway's own
cost, and the "floor" row is the least any relay on this stack adds on this machine.

    python bench/relay_floor.py BACKEND_BASE_URL PORT
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import uvicorn

Message = MutableMapping[str, Any]


class Floor:
    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.session: aiohttp.ClientSession | None = None

    async def __call__(
        self, scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            return
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        path = scope["path"].removeprefix("/v1")
        async with self.session.post(self.backend + path, data=body,
                                     headers={"Content-Type": "application/json"}) as resp:
            ctype = resp.headers.get("Content-Type", "application/json").encode()
            await send({"type": "http.response.start", "status": resp.status, "headers": [(b"content-type", ctype)]})
            while chunk := await resp.content.readany():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def main() -> None:
    backend, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    config = uvicorn.Config(Floor(backend), log_level="warning", access_log=False, lifespan="off",
                            loop="uvloop", http="httptools")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
