"""A real gateway for tests: registry on a real nats-server, the node API served by uvicorn on loopback,
stand-in OpenAI servers as the endpoints (in-process aiohttp servers, real HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from hydra_os.api.app import bind_socket, make_server
from hydra_os.api.auth import require_token
from hydra_os.api.limits import DEFAULT_MAX_BODY
from hydra_os.bus.client import Bus
from hydra_os.inference.asgi import HotPaths
from hydra_os.inference.gateway import Gateway
from hydra_os.inference.registry import EndpointRegistry
from hydra_os.sections.inference import InferenceConfig
from tests.standins.openai_server import StandinServer

TOKEN = "test-token-123"


@dataclass
class Harness:
    gateway: Gateway
    registry: EndpointRegistry
    url: str
    backends: dict[str, StandinServer]

    def client(self, token: str | None = TOKEN, timeout: float = 10.0) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout)

    def served_by(self, name: str) -> int:
        return len(self.backends[name].log)


def backend_endpoint(srv: StandinServer, tier: str, **kw: Any) -> dict[str, Any]:
    return {"url": srv.base_url, "model": srv.models[0], "tier": tier, "name": srv.name, **kw}


@contextlib.asynccontextmanager
async def gateway_harness(
    bus: Bus,
    backends: list[tuple[str, str, str, dict[str, Any]]],
    endpoints_extra: list[dict[str, Any]] | None = None,
    hot: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    state_dir: Path | None = None,
    weights_interval: float = 10.0,
    **config: Any,
) -> AsyncIterator[Harness]:
    """``backends``: (name, model, tier, extra endpoint config) each served by its own stand-in;
    ``endpoints_extra``: more ``inference.endpoints`` entries as they are (e.g. a URL nobody listens on)."""
    servers: dict[str, StandinServer] = {}
    eps = []
    for name, model, tier, extra in backends:
        srv = await StandinServer([model], name=name).start()
        servers[name] = srv
        eps.append(backend_endpoint(srv, tier, **extra))
    eps += endpoints_extra or []
    router_cfg = {"cooldown_base": 0.3, "probe_interval": 0.05, "first_byte_timeout": 5.0, **config.pop("router", {})}
    cfg = InferenceConfig.model_validate({"endpoints": eps, "router": router_cfg, **config})
    registry = EndpointRegistry(bus, "gw", refresh_interval=0.5, gone_after=2.0)
    await registry.start()
    gw = Gateway(cfg, registry, "gw", auth=require_token(TOKEN), max_body=max_body, state_dir=state_dir,
                 weights_interval=weights_interval)
    await gw.start()
    app = FastAPI()
    for router in gw.routes():
        app.include_router(router)

    @app.get("/ping")
    async def ping() -> dict[str, str]:  # a non-gateway route: served by FastAPI behind HotPaths too
        return {"pong": "yes"}

    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    # hot: the gateway's routes answered by HotPaths ahead of FastAPI's middleware and routing
    server = make_server(HotPaths(app, gw.hot_paths()) if hot else app)  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.01)
    try:
        yield Harness(gw, registry, f"http://127.0.0.1:{port}", servers)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        sock.close()
        await gw.stop()
        await registry.stop()
        for srv in servers.values():
            await srv.stop()
