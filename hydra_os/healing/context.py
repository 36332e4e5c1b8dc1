"""What checks and fixups may use. Built once by the healer component; no globals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hydra_os.bus.client import Bus
from hydra_os.healing.config import HealingConfig
from hydra_os.healing.gpu_health import GpuHealthProbe
from hydra_os.healing.supervisor import ProcessSupervisor


@dataclass
class HealingContext:
    config: HealingConfig
    node_id: str
    state_dir: Path
    bus: Bus | None = None
    supervisor: ProcessSupervisor | None = None
    gpu: GpuHealthProbe | None = None
    scheduler_store: Path | None = None  # the scheduler's APScheduler job store (SQLite), if this node has one
