"""HTTP routes for the task queue: ``/v1/tasks`` (bearer token required)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from hydra_os.api.docs import CONFLICT
from hydra_os.api.params import TaskId
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.model import Task, TaskSpec
from hydra_os.tasks.queue import EnqueueResult, TaskQueue

ScheduleReader = Callable[[], Awaitable[dict[str, Any]]]


def tasks_router(queue: TaskQueue, auth: Any, schedule: ScheduleReader | None = None) -> APIRouter:
    deps = [Depends(auth)] if auth is not None else []
    r = APIRouter(prefix="/v1", tags=["tasks"], dependencies=deps)

    @r.post("/tasks", summary="Queue a task (idempotent by idempotency_key)", response_model=EnqueueResult,
            status_code=201, responses={200: {"description": "The key was used before: the first task"}})
    async def enqueue(spec: TaskSpec, response: Response) -> EnqueueResult:
        res = await queue.enqueue(spec)
        if not res.created:
            response.status_code = 200
        return res

    @r.get("/tasks", summary="Tasks: active ones, or all with ?all=true", response_model=list[Task])
    async def list_tasks(all: Annotated[bool, Query(description="Include finished tasks.")] = False) -> list[Task]:
        return await queue.list_tasks(include_finished=all)

    @r.get("/tasks/{task_id}", summary="One task with its history and step checkpoints")
    async def show(task_id: TaskId) -> dict[str, Any]:
        task = await queue.get(task_id)
        steps = await CheckpointStore(queue.store, task_id).all()
        return {"task": task.model_dump(mode="json"),
                "checkpoints": [c.model_dump(mode="json") for c in
                                sorted(steps.values(), key=lambda c: c.finished_at)]}

    @r.post("/tasks/{task_id}/cancel", summary="Cancel a task that has not finished", response_model=Task,
            responses=CONFLICT)
    async def cancel(task_id: TaskId) -> Task:
        return await queue.cancel(task_id)

    @r.post("/tasks/{task_id}/retry", summary="Queue a failed or cancelled task again", response_model=Task,
            responses=CONFLICT)
    async def retry(task_id: TaskId,
                    fresh: Annotated[bool, Query(description="Drop its checkpoints.")] = False) -> Task:
        return await queue.retry(task_id, fresh=fresh)

    @r.get("/task-kinds", summary="Task kinds each live worker handles")
    async def kinds() -> dict[str, list[str]]:
        return await queue.store.worker_kinds()

    if schedule is not None:
        @r.get("/schedule", summary="Recurring jobs of the scheduler leader")
        async def schedule_list() -> dict[str, Any]:
            return await schedule()

    return r
