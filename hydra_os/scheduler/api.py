"""``POST /v1/schedule`` (add a recurring job) and ``DELETE /v1/schedule/{id}`` (bearer token).

``GET /v1/schedule`` (the leader's view) is served by :mod:`hydra_os.tasks.api`. Writes go to the
``hydra_schedule`` bucket; the scheduler leader picks them up within moments (:mod:`.store`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from hydra_os.api.docs import CONFLICT
from hydra_os.api.params import JobId
from hydra_os.scheduler.store import ScheduleStore, add_job, dump, parse_job


def schedule_router(store: ScheduleStore, tz: str, auth: Any) -> APIRouter:
    deps = [Depends(auth)] if auth is not None else []
    r = APIRouter(prefix="/v1", tags=["schedule"], dependencies=deps)

    @r.post("/schedule", status_code=201, summary="Add a recurring job (cron or every_s); says when it runs next",
            responses=CONFLICT)
    async def add(
        job: Annotated[dict[str, Any], Body(description="A job: id, kind, params, cron or every_s, priority...")],
        title: Annotated[str, Query(max_length=300, description="What it is for, in words.")] = "",
        replace: Annotated[bool, Query(description="Replace a stored job of the same id.")] = False,
    ) -> dict[str, Any]:
        return await add_job(store, parse_job(job), tz, source="api", title=title, replace=replace)

    @r.get("/schedule/stored", summary="Recurring jobs added at run time, as stored (any node can answer)")
    async def stored() -> dict[str, Any]:
        return {i: dump(s) for i, s in (await store.all()).items()}

    @r.delete("/schedule/{job_id}", summary="Remove a recurring job added at run time")
    async def remove(job_id: JobId) -> dict[str, Any]:
        return dump(await store.remove(job_id))

    return r
