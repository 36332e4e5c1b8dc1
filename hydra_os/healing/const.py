"""The healing contract's words: what a check can find (:class:`IssueType`) and what it looks at (:class:`TargetKind`).

Owned by the checks (Home Assistant Supervisor's ``resolution/const.py``): each check declares the
issue types it reports and each fixup the issue types it repairs, so renaming a check or an issue is
a type error and a failing contract test, never a fixup that silently stops matching.
"""

from __future__ import annotations

from enum import StrEnum


class IssueType(StrEnum):
    BACKUP_OVERDUE = "backup_overdue"
    BUS_UNUSABLE = "bus_unusable"
    CHILD_DOWN = "child_down"
    DISK_LOW = "disk_low"
    ENGINE_DOWN = "engine_down"
    GPU_UNHEALTHY = "gpu_unhealthy"
    HTTP_DOWN = "http_down"
    MODEL_SILENT = "model_silent"
    NODE_GONE = "node_gone"
    SCHEDULER_STORE_DAMAGED = "scheduler_store_damaged"
    UNIT_FAILED = "unit_failed"
    UNIT_MISSING = "unit_missing"


class TargetKind(StrEnum):
    """The prefix of a target's wire form (``unit:ollama.service``); ``bus`` has no name."""

    BACKUP = "backup"
    BUS = "bus"
    DISK = "disk"
    ENGINE = "engine"
    FILE = "file"
    GPU = "gpu"
    HTTP = "http"
    MODEL = "model"
    NODE = "node"
    PROCESS = "process"
    UNIT = "unit"
