"""``POST /v1/requests`` (bearer token; with ``"stream": true`` server-sent events) and the ``ask`` node RPC
verb (``hydra ask``, always the whole reply)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from hydra_os.api.sse import STREAM_HEADERS
from hydra_os.intake.errors import RequestInputError
from hydra_os.intake.model import ASK_VERB, Reply, RequestIn
from hydra_os.intake.stream import StreamItem, events

__all__ = ["ASK_VERB", "RequestHandler", "requests_router", "rpc_handler"]


class RequestHandler(Protocol):
    """What the route and the RPC verb need of the intake (:class:`~hydra_os.intake.service.IntakeService`)."""

    async def handle(self, req: RequestIn) -> Reply: ...

    async def open_stream(self, req: RequestIn) -> AsyncIterator[StreamItem]: ...


def requests_router(svc: RequestHandler, auth: Any) -> APIRouter:
    deps = [Depends(auth)] if auth is not None else []
    r = APIRouter(prefix="/v1", tags=["requests"], dependencies=deps)

    @r.post("/requests", summary="A request in words: answered, queued, run, asked back", response_model=Reply,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "The reply; with `stream: true` as server-sent events "
                                            "(`delta`..., then `reply`; or `error`)."}})
    async def handle(req: RequestIn) -> Reply | StreamingResponse:
        if req.stream:
            return StreamingResponse(events(await svc.open_stream(req)), media_type="text/event-stream",
                                     headers=STREAM_HEADERS)
        return await svc.handle(req)

    return r


def rpc_handler(svc: RequestHandler) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    async def ask(params: dict[str, Any]) -> dict[str, Any]:
        try:
            req = RequestIn.model_validate(params)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "request"
            raise RequestInputError(f"{field}: {err['msg']}") from None  # the caller's to fix: micro code 400
        return (await svc.handle(req)).model_dump(mode="json")

    return ask
