"""The page's way to act: the node's own ``/v1`` routes, called in-process.

Every read and every side effect of the page goes through exactly the routes the CLI and API
clients use (so through the same services and the same policy gate), over an in-memory ASGI
transport with the node's bearer token: no socket, no second code path. A failed call raises
:class:`ActionFailedError` with the route's one-line message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from hydra_os.ui.asgistream import AsgiStream
from hydra_os.ui.errors import ActionFailedError

CALL_TIMEOUT = 30.0


def one_line(body: Any, status: int) -> str:
    """The route's error as one line: ``detail`` (a string, or pydantic's list naming the field)
    or ``{"error": {"message"}}`` (the OpenAI/HydraError shape)."""
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            d = detail[0]
            where = ".".join(str(p) for p in d.get("loc", []) if p != "body")
            return f"{where}: {d.get('msg', 'invalid')}" if where else str(d.get("msg", "invalid"))
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
    return f"the node answered HTTP {status}"


class NodeApi:
    def __init__(self, app: Any, token: str) -> None:
        self._app = app
        self._auth = {"authorization": f"Bearer {token}"}
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node",
                                         headers=self._auth)

    async def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                r = await self._client.request(method, path, json=json, params=params)
        except TimeoutError:
            raise ActionFailedError(f"{method} {path} took longer than {CALL_TIMEOUT:.0f}s", 504) from None
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400:
            raise ActionFailedError(one_line(body, r.status_code), r.status_code)
        return body

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params or None)

    async def post(self, path: str, json: Any = None, **params: Any) -> Any:
        return await self.call("POST", path, json=json, params=params or None)

    async def stream(self, path: str, body: Any) -> AsyncIterator[bytes]:
        """POST to a streaming route; its body as the route writes it (:mod:`hydra_os.ui.asgistream`). An
        error answer (4xx/5xx, before the stream starts) raises :class:`ActionFailedError`, one line."""
        call = AsgiStream(self._app, path, body, self._auth)
        try:
            status, answer = await call.open(CALL_TIMEOUT)
        except TimeoutError:
            raise ActionFailedError(f"POST {path} did not start answering within {CALL_TIMEOUT:.0f}s", 504) from None
        if status >= 400:
            raise ActionFailedError(_error_line(await call.whole(answer), status), status)
        return answer

    async def optional(self, path: str, **params: Any) -> tuple[Any, str | None]:
        """(body, None), or (None, the one-line error): a page part whose source is down says so."""
        try:
            return await self.get(path, **params), None
        except ActionFailedError as e:
            return None, str(e)

    async def aclose(self) -> None:
        await self._client.aclose()


def _error_line(raw: bytes, status: int) -> str:
    try:
        return one_line(json.loads(raw), status)
    except ValueError:
        return one_line(None, status)
