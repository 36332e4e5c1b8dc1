"""What a briefing contains (JSON-able: it is the ``collect`` step's checkpoint)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from pipelines.creative_digest import CreativeDigest


class TaskItem(BaseModel):
    id: str
    kind: str
    title: str
    state: str
    finished_at: float
    summary: str = ""
    error: str | None = None
    link: str | None = None


class IncidentItem(BaseModel):
    id: str
    summary: str
    status: str
    check: str = ""
    actions: list[str] = Field(default_factory=list, description="What was done, one line each.")
    at: float


class ApprovalItem(BaseModel):
    id: str
    summary: str
    reason: str
    expires_at: float
    node: str
    approve_url: str | None = None  # single-use phone links (hydra_os.policy.approval_links) when ui.public_url is set
    deny_url: str | None = None


class NodeItem(BaseModel):
    id: str
    roles: list[str]
    healthy: bool
    cpu_pct: float
    mem_free_pct: float
    gpus: list[str] = Field(default_factory=list, description="One line per GPU.")
    warnings: list[str] = Field(default_factory=list)


class ServiceUptime(BaseModel):
    node: str
    target: str
    up: bool
    availability_24h: float | None = None
    availability_30d: float | None = None
    outages_30d: int = 0


class MemoryGrowth(BaseModel):
    passages: int | None = None
    entities: int | None = None
    relations: int | None = None
    learnings_new: int | None = None
    delta: dict[str, int] = Field(default_factory=dict, description="Change since the last briefing.")
    error: str | None = None


class Briefing(BaseModel):
    since: float
    until: float
    timezone: str
    owner: str
    tasks: list[TaskItem] = Field(default_factory=list)
    routine: dict[str, int] = Field(default_factory=dict, description="Routine task kinds: how many ran.")
    failed: list[TaskItem] = Field(default_factory=list)
    incidents: list[IncidentItem] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list, description="Policy actions taken outside incidents.")
    approvals: list[ApprovalItem] = Field(default_factory=list)
    nodes: list[NodeItem] = Field(default_factory=list)
    uptime: list[ServiceUptime] = Field(default_factory=list, description="Availability per watched service.")
    nixos: list[str] = Field(
        default_factory=list, description="NixOS revisions that failed their gate and rollbacks, one line each."
    )
    memory: MemoryGrowth = Field(default_factory=MemoryGrowth)
    backup: str = Field(default="", description="The last backup of the briefing's node: age and size (or why none).")
    creative: CreativeDigest | None = Field(default=None, description="The creative studio's images of the period.")
    tonight: list[TaskItem] = Field(default_factory=list)
    tonight_window: str = ""
    opening: str | None = None
    problems: list[str] = Field(default_factory=list, description="Parts that could not be read, and why.")

    def counts(self) -> dict[str, Any]:
        return {"tasks": len(self.tasks), "failed": len(self.failed), "incidents": len(self.incidents),
                "approvals": len(self.approvals), "nodes": len(self.nodes), "tonight": len(self.tonight)}
