"""HTTP routes of the policy component (bearer token required on all of them).

``GET /v1/policy`` status; ``POST /v1/policy/explain`` (an Action) -> decision;
``POST /v1/policy/reload``; ``GET /v1/approvals[?all=true]``; ``GET /v1/approvals/{id}``;
``POST /v1/approvals/{id}/approve`` ({note, expect_hash}); ``POST /v1/approvals/{id}/deny``;
``GET|POST /v1/maintenance``; ``DELETE /v1/maintenance/{id}``.
Errors: 404 unknown id, 409 wrong state or hash mismatch, 422 bad body (names the field),
503 bus unavailable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hydra_os.api.docs import CONFLICT
from hydra_os.api.params import ApprovalId, WindowId
from hydra_os.policy.approvals import OPEN_STATES, ApprovalStore
from hydra_os.policy.durations import parse_duration
from hydra_os.policy.model import Action

if TYPE_CHECKING:
    from hydra_os.policy.service import PolicyService


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500, description="Why; kept with the approval.")
    expect_hash: str | None = Field(default=None, description="Approve only if the action hash starts with this.")


class MaintenanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duration: str = Field(description="How long, e.g. '2h', '30m'.")
    targets: list[str] = Field(default_factory=lambda: ["*"], description="Target globs it covers.")
    reason: str = Field(default="", max_length=500)

    @field_validator("duration")
    @classmethod
    def _dur(cls, v: str) -> str:
        parse_duration(v)
        return v


def build_router(service: PolicyService, auth: Callable[..., Any] | None) -> APIRouter:
    deps = [Depends(auth)] if auth is not None else []
    r = APIRouter(prefix="/v1", tags=["policy"], dependencies=deps)
    by = f"api@{service.ctx.node_id}"

    def store() -> ApprovalStore:
        if service.gate.approvals is None:
            raise HTTPException(503, "the policy service is not started yet")
        return service.gate.approvals

    @r.get("/policy")
    async def policy_status() -> dict[str, Any]:
        return service.status()

    @r.post("/policy/explain")
    async def explain(action: Action) -> dict[str, Any]:
        return {"action_hash": action.content_hash(),
                "decision": service.gate.decide(action).model_dump(mode="json")}

    @r.post("/policy/reload")
    async def reload() -> dict[str, Any]:
        return await service.check_reload(force=True)

    @r.get("/approvals")
    async def approvals(all: bool = False) -> list[dict[str, Any]]:
        recs = await store().list(None if all else OPEN_STATES)
        return [r.model_dump(mode="json") for r in recs]

    @r.get("/approvals/{approval_id}")
    async def approval(approval_id: ApprovalId) -> dict[str, Any]:
        return (await store().get(approval_id)).model_dump(mode="json")

    @r.post("/approvals/{approval_id}/approve", responses=CONFLICT)
    async def approve(approval_id: ApprovalId, body: Verdict | None = None) -> dict[str, Any]:
        v = body or Verdict()
        rec, changed = await store().approve(approval_id, by, v.expect_hash, v.note)
        return {"approval": rec.model_dump(mode="json"), "changed": changed}

    @r.post("/approvals/{approval_id}/deny", responses=CONFLICT)
    async def deny(approval_id: ApprovalId, body: Verdict | None = None) -> dict[str, Any]:
        v = body or Verdict()
        rec, changed = await store().deny(approval_id, by, v.note)
        return {"approval": rec.model_dump(mode="json"), "changed": changed}

    @r.get("/maintenance")
    async def maintenance() -> list[dict[str, Any]]:
        return service.schedule.describe()

    @r.post("/maintenance")
    async def start_maintenance(req: MaintenanceRequest) -> dict[str, Any]:
        if service.maintenance is None:
            raise HTTPException(503, "the policy service is not started yet")
        w = await service.maintenance.start(parse_duration(req.duration), targets=req.targets,
                                            reason=req.reason, by=by)
        service.schedule.put(w)
        return w.model_dump()

    @r.delete("/maintenance/{window_id}")
    async def stop_maintenance(window_id: WindowId) -> dict[str, Any]:
        if service.maintenance is None:
            raise HTTPException(503, "the policy service is not started yet")
        ended = await service.maintenance.stop(window_id)
        for i in ended:
            service.schedule.remove(i)
        return {"ended": ended}

    return r
