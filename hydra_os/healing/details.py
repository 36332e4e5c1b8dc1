"""What each issue type carries besides its summary: one typed model per :class:`IssueType`.

A fixup reads the details of the issue types it repairs with :meth:`Issue.detail
<hydra_os.healing.model.Issue.detail>`, so a field it relies on is checked by mypy, not looked up by
string. Where a check reports a state model that already exists (a unit's ``systemctl show``, a
supervised child, an NVML reading) that model is the details.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from hydra_os.healing.const import IssueType
from hydra_os.healing.gpu_health import GpuHealth
from hydra_os.healing.supervisor import ChildState
from hydra_os.healing.systemctl import UnitState


class _Details(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BackupDetails(_Details):
    last_attempt_at: float
    last_error: str | None = None
    last_ok_at: float | None = None
    max_age: float


class BusDetails(_Details):
    server: str | None = None
    last_error: str | None = None


class DiskDetails(_Details):
    path: str
    free_bytes: int
    total_bytes: int
    free_pct: float
    min_free_pct: float
    min_free_gb: float


class EngineDetails(_Details):
    model: str
    state: str
    error: str | None = None


class HttpDetails(_Details):
    url: str
    why: str


class ModelDetails(_Details):
    base_url: str
    model: str
    why: str
    process: str | None = None
    """The supervised child serving it (its restart is the repair)."""


class NodeDetails(_Details):
    node: str


class StoreDetails(_Details):
    path: str
    error: str


Details = (BackupDetails | BusDetails | ChildState | DiskDetails | EngineDetails | GpuHealth | HttpDetails
           | ModelDetails | NodeDetails | StoreDetails | UnitState)

DETAILS: dict[IssueType, type[BaseModel]] = {
    IssueType.BACKUP_OVERDUE: BackupDetails,
    IssueType.BUS_UNUSABLE: BusDetails,
    IssueType.CHILD_DOWN: ChildState,
    IssueType.DISK_LOW: DiskDetails,
    IssueType.ENGINE_DOWN: EngineDetails,
    IssueType.GPU_UNHEALTHY: GpuHealth,
    IssueType.HTTP_DOWN: HttpDetails,
    IssueType.MODEL_SILENT: ModelDetails,
    IssueType.NODE_GONE: NodeDetails,
    IssueType.SCHEDULER_STORE_DAMAGED: StoreDetails,
    IssueType.UNIT_FAILED: UnitState,
    IssueType.UNIT_MISSING: UnitState,
}
"""The details model of each issue type (an issue with other details is refused when it is made)."""
