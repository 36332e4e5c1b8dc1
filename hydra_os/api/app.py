"""The FastAPI application and its in-process uvicorn server."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from loguru import logger

from hydra_os import __version__
from hydra_os.api.auth import BearerToken
from hydra_os.api.docs import document_errors, field_errors, validation_shape
from hydra_os.api.limits import DEFAULT_MAX_BODY, BodyLimit
from hydra_os.errors import HydraError, StartupError
from hydra_os.node.info import NodeInfo


class DaemonView(Protocol):
    """What the core routes need from the daemon."""

    @property
    def is_ready(self) -> bool: ...

    def unready(self) -> dict[str, str]: ...

    def failing(self) -> list[str]: ...

    def status(self) -> dict[str, Any]: ...

    def nodes(self) -> list[NodeInfo]: ...


def create_app(
    daemon: DaemonView,
    auth: BearerToken,
    extra_routers: list[APIRouter] | None = None,
    openapi_extra: list[Callable[[], dict[str, Any]]] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    body_gates: list[Callable[[Any], bool]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Hydra OS",
        version=__version__,
        description="Node API of a Hydra OS daemon. Everything but /healthz and /readyz needs a bearer token.",
    )

    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Connected to the bus, registered, components started")
    async def readyz() -> JSONResponse:
        ready = daemon.is_ready
        body: dict[str, Any] = {"ready": ready}
        if problems := daemon.unready():
            body["unready"] = problems  # which subsystem cannot serve, and why
        # a component that failed to open (memory with a broken embedder, say) does not take the node
        # out of service, but readiness names it; its error is in the authenticated /v1/status
        body["failing"] = daemon.failing() if ready else []
        return JSONResponse(body, status_code=200 if ready else 503)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(auth)])

    @v1.get("/status", tags=["node"], summary="This node's status")
    async def status() -> dict[str, Any]:
        return daemon.status()

    @v1.get("/nodes", tags=["node"], summary="Every node this node sees", response_model=list[NodeInfo])
    async def nodes() -> list[NodeInfo]:
        return daemon.nodes()

    app.include_router(v1)
    # the one body cap of every FastAPI route (api.max_body_bytes); no body is read without the token
    gates = [auth.allows_scope, *(body_gates or [])]  # the web page's own gate (its session cookie)
    app.add_middleware(BodyLimit, limit=max_body, allows=lambda scope: any(g(scope) for g in gates))
    app.add_exception_handler(HTTPException, validation_shape)  # 422 bodies in their documented shape
    app.add_exception_handler(HydraError, hydra_error)  # the one place a deliberate error becomes HTTP
    for r in extra_routers or []:
        app.include_router(r)
    _merge_openapi(app, openapi_extra or [])
    return app



class ErrorPage(Protocol):
    """How a route that serves HTML renders an error (:func:`hydra_error` decides the status)."""

    def __call__(self, request: Request, status: int, message: str, code: str) -> Response: ...

async def hydra_error(request: Request, exc: Exception) -> Response:
    """Any :class:`HydraError` a route lets out, answered with the error's own status
    (:meth:`HydraError.wire_status`) as ``{"error": {"code", "message"}, "detail": ...}``.

    Routes raise and let go; nothing else maps an error class to a status (``scripts/check_seams.py``
    fails CI on a mapper). ``detail`` keeps the shape FastAPI clients already read: the message, or
    for a 422 the documented field list (:func:`field_errors`, the field from ``"field: what"``).
    A route that serves HTML puts an :class:`ErrorPage` on ``request.state.error_page`` (the web page,
    :class:`hydra_os.ui.web.UiRoute`): the same status, code and message come back rendered by it.
    """
    assert isinstance(exc, HydraError)
    message, status = str(exc), exc.wire_status()
    if status >= 500:  # a failure on our side: worth a line in the log, the client gets the message
        logger.warning("{} {}: {} {}", request.method, request.url.path, type(exc).__name__, message)
    render: ErrorPage | None = getattr(request.state, "error_page", None)
    if render is not None:
        return render(request, status, message, exc.code)
    detail: Any = field_errors(message) if status == 422 else message
    return JSONResponse({"error": {"code": exc.code, "message": message}, "detail": detail}, status_code=status)


def _merge_openapi(app: FastAPI, extra: list[Callable[[], dict[str, Any]]]) -> None:
    """``/openapi.json`` = FastAPI's own schema plus the path items and component schemas ``extra``
    builds, with the answers every route may give (:func:`document_errors`), all made on the first
    request for it (as FastAPI makes its own)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            for doc in (build() for build in extra):
                schema.setdefault("paths", {}).update(doc.get("paths", {}))
                comps = schema.setdefault("components", {}).setdefault("schemas", {})
                comps.update(doc.get("components", {}).get("schemas", {}))
            document_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before anything else starts, so a port in use fails fast and leaves nothing half-started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only for sockets whose
    # proto says TCP; without it every response waited ~40 ms on a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise StartupError(
            f"cannot listen on {host}:{port} ({e.strerror}); stop what uses it or set api.port (HYDRA_API__PORT)"
        ) from None
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: Any) -> ApiServer:
    """An in-process uvicorn server for an ASGI app (the FastAPI app, possibly behind hot routes)."""
    # proxy_headers off: nothing here reads the client address, so X-Forwarded-* parsing on every
    # request (uvicorn trusts 127.0.0.1 by default) would be work for nothing
    # log_config None: uvicorn's records go to the root logger, so the daemon's one sink writes them
    # (hydra_os/cli/logs.py; JSON with log.json_lines) instead of uvicorn's own handlers and format
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5,
                            proxy_headers=False, log_config=None)
    return ApiServer(config)
