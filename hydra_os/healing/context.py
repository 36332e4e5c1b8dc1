"""What checks and fixups may use. Built once by the healer component; no globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hydra_os.bus.client import Bus
from hydra_os.healing.gpu_health import GpuHealthProbe
from hydra_os.healing.supervisor import ProcessSupervisor
from hydra_os.healing.uptime import UptimeLog
from hydra_os.healing.watch import ModelsView, PeersView
from hydra_os.sections.healing import DiskTarget, HealingConfig


@dataclass
class HealingContext:
    config: HealingConfig
    node_id: str
    state_dir: Path
    bus: Bus | None = None
    supervisor: ProcessSupervisor | None = None
    gpu: GpuHealthProbe | None = None
    scheduler_store: Path | None = None  # the scheduler's APScheduler job store (SQLite), if this node has one
    models: ModelsView | None = None
    peers: PeersView | None = None
    uptime: UptimeLog | None = None
    """The availability record (the healer writes it each round; fixups may ask when an outage began)."""
    disks: list[DiskTarget] = field(default_factory=list)
    """Filesystems watched; empty means ``config.disks`` (the component fills in the defaults)."""
    known_nodes: set[str] = field(default_factory=set)
    """Other nodes seen since the daemon started (the node check's memory)."""
    seen_engines: set[str] = field(default_factory=set)
    """Models whose engine the model_engine check has seen ready (a later start is a restart)."""

    @property
    def watched_disks(self) -> list[DiskTarget]:
        return self.disks or list(self.config.disks)
