"""``POST /v1/requests`` (bearer token) and the ``ask`` node RPC verb (``hydra ask``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastapi import APIRouter, Depends
from pydantic import ValidationError

from hydra_os.intake.errors import RequestInputError
from hydra_os.intake.model import ASK_VERB, Reply, RequestIn

__all__ = ["ASK_VERB", "RequestHandler", "requests_router", "rpc_handler"]


class RequestHandler(Protocol):
    """What the route and the RPC verb need of the intake (:class:`~hydra_os.intake.service.IntakeService`)."""

    async def handle(self, req: RequestIn) -> Reply: ...


def requests_router(svc: RequestHandler, auth: Any) -> APIRouter:
    deps = [Depends(auth)] if auth is not None else []
    r = APIRouter(prefix="/v1", tags=["requests"], dependencies=deps)

    @r.post("/requests", summary="A request in words: answered, queued, run, asked back", response_model=Reply)
    async def handle(req: RequestIn) -> Reply:
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
