"""What a node says about itself in every heartbeat."""

from __future__ import annotations

import os
import time

import psutil
from pydantic import BaseModel, Field

from hydra_os.node.gpu import GpuInfo


class NodeInfo(BaseModel):
    """The value of a node's key in ``hydra_nodes``."""

    id: str
    incarnation: str = Field(description="Unique per daemon start; tells a restart from a heartbeat.")
    roles: list[str]
    version: str
    api_url: str | None
    pid: int
    started_at: float
    heartbeat_at: float
    uptime_s: float
    cpu_count: int
    cpu_percent: float
    load_avg_1m: float
    mem_total_mb: int
    mem_available_mb: int
    gpus: list[GpuInfo] = Field(default_factory=list)
    bus_server: str | None = None

    @property
    def vram_free_mb(self) -> int:
        return sum(g.memory_free_mb for g in self.gpus)

    @property
    def age(self) -> float:
        return time.time() - self.heartbeat_at


def host_stats() -> dict[str, float | int]:
    """CPU and memory figures from psutil; non-blocking (cpu_percent since the last call)."""
    vm = psutil.virtual_memory()
    return {
        "cpu_count": os.cpu_count() or 1,
        "cpu_percent": psutil.cpu_percent(interval=None),
        "load_avg_1m": os.getloadavg()[0],
        "mem_total_mb": vm.total // (1024 * 1024),
        "mem_available_mb": vm.available // (1024 * 1024),
    }
