"""Request body caps (``api.max_body_bytes``) for the node API, and no body read for a stranger.

Two users: the gateway's hot paths read their bodies themselves (:mod:`hydra_os.inference.asgi`) and
call :func:`declared_length` / :func:`too_large_message`; every other route is behind
:class:`BodyLimit`, an ASGI wrapper applied once around the FastAPI app. A body over the cap is
refused with 413 as soon as its ``Content-Length`` says so, or as soon as the bytes read pass the cap
(chunked uploads). When the declared length was too large the connection is closed (nothing of
the body was read, so the client stops uploading at once); when the count tripped mid-read the
connection stays open and the server discards the rest (closing with unread bytes in the socket
makes the kernel send a reset, and the client loses the 413 it was sent).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY = 8 * 1024 * 1024


def declared_length(scope: Mapping[str, Any]) -> int | None:
    """The request's ``Content-Length`` (None when absent or not a number: chunked or malformed)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def too_large_message(limit: int) -> str:
    return f"the request body is larger than {limit} bytes (api.max_body_bytes)"


def too_large_body(limit: int) -> bytes:
    """OpenAI's error shape (what the gateway's clients parse), on every route alike."""
    err = {"message": too_large_message(limit), "type": "invalid_request_error", "param": None,
           "code": "request_too_large"}
    return json.dumps({"error": err}).encode()


async def send_too_large(send: Send, limit: int, *, close: bool) -> None:
    body = too_large_body(limit)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNAUTHORIZED = json.dumps({"detail": "missing or wrong bearer token"}).encode()


async def send_unauthorized(send: Send) -> None:
    """The 401 the node routes' auth dependency answers, sent without reading the request."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_UNAUTHORIZED)).encode()),
               (b"www-authenticate", b"Bearer")]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": _UNAUTHORIZED, "more_body": False})


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI wrapper: HTTP requests whose body passes ``limit`` bytes get 413 (OpenAI's error shape).

    With ``allows`` (the bearer-token test on the headers), a request that may carry a body (any
    method but GET/HEAD/OPTIONS) without the token is answered 401 before a byte of it is read:
    FastAPI reads and parses a body before it runs a route's auth dependency, so without this a
    client without the token could make the node read and parse ``limit`` bytes per request. Every
    node route that takes a body needs the token (the gateway's open routes, when
    ``inference.require_auth`` is false, are served ahead of FastAPI and never get here).

    With a ``Content-Length`` over the cap the app is never called. Otherwise ``receive`` is counted;
    when the count passes the cap the app's read fails (FastAPI turns that into an error response,
    which is dropped here) and the 413 is sent instead, unless the app had already started answering.
    """

    def __init__(self, app: App, limit: int = DEFAULT_MAX_BODY,
                 allows: Callable[[Scope], bool] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.allows = allows

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allows is not None and scope["method"] not in _BODILESS and not self.allows(scope):
            await send_unauthorized(send)
            return
        n = declared_length(scope)
        if n is not None and n > self.limit:
            await send_too_large(send, self.limit, close=True)
            return
        seen = 0
        over = False
        started = False

        async def counted() -> Message:
            nonlocal seen, over
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    over = True
                    raise _TooLarge
            return msg

        async def guarded(msg: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to its failed read; the 413 goes out instead
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, guarded)
        except _TooLarge:
            pass
        if over and not started:
            await send_too_large(send, self.limit, close=False)
