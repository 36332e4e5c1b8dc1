"""Services a node announces over the bus for others to use, like model endpoints (``hydra_models``) but for
plain URLs of a kind: a GPU node's ComfyUI servers (kind ``comfyui``).

A :class:`ServiceAnnouncer` puts one entry per URL into ``hydra_services`` under ``<node>.<kind>.<hash>`` and
re-puts it every ``refresh_interval``; the bucket's TTL drops the entries of a node that stopped, and
``stop()`` deletes them at once. :func:`announced` reads the entries of a kind refreshed within
``gone_after`` (by their own ``updated_at``), so a reader needs no watcher of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field, ValidationError

from hydra_os.bus import names
from hydra_os.bus.client import Bus, kv_values
from hydra_os.lifecycle import Lifecycle


class ServiceInfo(BaseModel):
    kind: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    url: str
    node: str
    updated_at: float = Field(default_factory=time.time)


def service_key(node: str, kind: str, url: str) -> str:
    """``<node>.<kind>.<hash>``: the node's own key space (bus permissions let it write only there)."""
    return f"{node}.{kind}.{hashlib.sha256(url.encode()).hexdigest()[:16]}"


class ServiceAnnouncer(Lifecycle):
    """Keeps ``urls`` of ``kind`` announced for node ``node_id`` while it runs."""

    def __init__(self, bus: Bus, node_id: str, kind: str, urls: list[str], refresh_interval: float = 1.0) -> None:
        self.name = f"announce.{kind}"
        self.bus, self.node_id, self.kind, self.urls = bus, node_id, kind, list(urls)
        self.refresh_interval = refresh_interval
        self.last_error: str | None = None

    async def _put_all(self) -> None:
        kv = await self.bus.kv(names.SERVICES_BUCKET)
        for url in self.urls:
            info = ServiceInfo(kind=self.kind, url=url, node=self.node_id)
            await kv.put(service_key(self.node_id, self.kind, url), info.model_dump_json().encode())

    async def _start(self) -> None:
        await self._put_all()
        self.background.spawn(self._refresh_loop(), "refresh")

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            try:
                await self._put_all()
                self.last_error = None
            except Exception as e:  # bus down: keep trying (the TTL hides us meanwhile); status reports it
                self.last_error = f"{type(e).__name__}: {e}"

    async def _stop(self) -> None:
        await self.background.close()
        with contextlib.suppress(Exception):  # the TTL removes them anyway
            kv = await self.bus.kv(names.SERVICES_BUCKET)
            for url in self.urls:
                await kv.delete(service_key(self.node_id, self.kind, url))

    def _details(self) -> dict[str, Any]:
        return {"kind": self.kind, "urls": self.urls, "last_error": self.last_error}


async def announced(bus: Bus, kind: str, gone_after: float) -> list[ServiceInfo]:
    """The live announcements of ``kind``, oldest node id first."""
    kv = await bus.kv(names.SERVICES_BUCKET)
    now, out = time.time(), []
    for key, value in await kv_values(kv):
        try:
            info = ServiceInfo.model_validate_json(value)
        except ValidationError:
            logger.warning("ignoring malformed service entry {}", key)
            continue
        if info.kind == kind and now - info.updated_at <= gone_after:
            out.append(info)
    return sorted(out, key=lambda i: (i.node, i.url))
