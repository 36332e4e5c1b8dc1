"""Ollama is discovered, not managed: Hydra never starts or stops it.

Every ``interval_s`` it asks ``GET /api/tags`` (the installed models) and checks that the
OpenAI-compatible ``GET /v1/models`` answers, then announces one endpoint per model with base URL
``<url>/v1``. Models that disappear are withdrawn; an unreachable server withdraws all of its.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import httpx
from loguru import logger

from hydra_os.inference.endpoint import EndpointInfo, endpoint_key
from hydra_os.lifecycle import Background
from hydra_os.sections.models import OllamaSource


class Announcer(Protocol):
    async def announce(self, info: EndpointInfo) -> None: ...

    async def withdraw(self, endpoint_id: str) -> None: ...


async def list_models(http: httpx.AsyncClient, url: str) -> list[str]:
    """Names of the models an Ollama server has; raises httpx.HTTPError or ValueError."""
    r = await http.get(url + "/api/tags")
    r.raise_for_status()
    models = r.json().get("models")
    if not isinstance(models, list):
        raise ValueError("/api/tags answer has no 'models' list")
    names = [m.get("name") or m.get("model") for m in models if isinstance(m, dict)]
    v1 = await http.get(url + "/v1/models")
    v1.raise_for_status()
    return sorted(n for n in names if isinstance(n, str) and n)


class OllamaDiscovery:
    def __init__(
        self,
        source: OllamaSource,
        index: int,
        node_id: str,
        announcer: Announcer | None,
        http: httpx.AsyncClient,
    ) -> None:
        self.source = source
        self.index = index
        self.node_id = node_id
        self.announcer = announcer
        self.http = http
        self.models: list[str] = []
        self.error: str | None = None
        self._announced: dict[str, str] = {}  # endpoint id -> model name
        self._tasks = Background(f"ollama-{index}")

    def endpoint(self, name: str) -> EndpointInfo:
        s = self.source
        return EndpointInfo(
            id=endpoint_key(self.node_id, f"ollama{self.index}-{name}"),
            model=name,
            engine="ollama",
            base_url=s.url + "/v1",
            node=self.node_id,
            tier=s.tiers.get(name, s.tier),
            context_length=s.context_length,
        )

    async def discover_once(self) -> None:
        try:
            names = await list_models(self.http, self.source.url)
        except (httpx.HTTPError, ValueError) as e:
            if self.error is None:
                logger.warning("ollama at {} unreachable: {}", self.source.url, e)
            self.error = f"{type(e).__name__}: {e}"
            names = []
        else:
            self.error = None
        self.models = names
        wanted = {self.endpoint(n).id: n for n in names}
        for eid in [e for e in self._announced if e not in wanted]:
            self._announced.pop(eid)
            if self.announcer is not None:
                await self.announcer.withdraw(eid)
        for eid, name in wanted.items():
            if eid not in self._announced:
                self._announced[eid] = name
                if self.announcer is not None:
                    await self.announcer.announce(self.endpoint(name))

    async def _loop(self) -> None:
        while True:
            await self.discover_once()
            await asyncio.sleep(self.source.interval_s)

    async def start(self) -> None:
        if not self._tasks:
            self._tasks.spawn(self._loop(), "discovery")

    async def stop(self) -> None:
        await self._tasks.close()
        for eid in list(self._announced):
            self._announced.pop(eid)
            if self.announcer is not None:
                await self.announcer.withdraw(eid)

    def status(self) -> dict[str, Any]:
        return {"url": self.source.url, "models": self.models, "error": self.error}
