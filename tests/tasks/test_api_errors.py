"""Deliberate errors reach HTTP through the one handler in ``hydra_os.api.app``: each answers with its
own ``http_status`` and ``code``, in ``{"error": {"code", "message"}, "detail": ...}`` (issue 12 item 1).

The routes are the real task routes on a real queue (the ``bus`` fixture's nats-server), served by
the real FastAPI app; only the daemon view the core routes read is a small stand-in here.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi import APIRouter

from hydra_os.api.app import create_app
from hydra_os.api.auth import BearerToken
from hydra_os.bus.client import Bus
from hydra_os.errors import RpcError
from hydra_os.node.info import NodeInfo
from hydra_os.tasks.api import tasks_router
from hydra_os.tasks.errors import InvalidTaskError, TaskNotFoundError
from hydra_os.tasks.model import TaskSpec
from tests.tasks.conftest import queue_for

TOKEN = "t0ken"


class _Daemon:
    is_ready = True

    def unready(self) -> dict[str, str]:
        return {}

    def status(self) -> dict[str, Any]:
        return {}

    def nodes(self) -> list[NodeInfo]:
        return []


async def test_task_route_errors_answer_their_own_status_and_code(bus: Bus) -> None:
    q = queue_for(bus)

    async def no_leader() -> dict[str, Any]:
        raise RpcError("no scheduler leader answers")

    auth = BearerToken(TOKEN)
    app = create_app(_Daemon(), auth, [tasks_router(q, auth, no_leader)])
    later = await q.enqueue(TaskSpec(kind="t.slow", not_before=time.time() + 3600))
    await q.cancel(later.task.id)
    async with _client(app) as c:
        missing = await c.get("/v1/tasks/nope")
        assert missing.status_code == TaskNotFoundError.http_status == 404
        assert missing.json()["error"]["code"] == "task_not_found"
        assert missing.json()["detail"] == missing.json()["error"]["message"] and "nope" in missing.json()["detail"]

        again = await c.post(f"/v1/tasks/{later.task.id}/cancel")
        assert again.status_code == 409 and again.json()["error"]["code"] == "task_state"

        down = await c.get("/v1/schedule")
        assert down.status_code == 503
        assert down.json() == {"error": {"code": "rpc_failed", "message": "no scheduler leader answers"},
                               "detail": "no scheduler leader answers"}


async def test_a_422_error_keeps_the_documented_field_list() -> None:
    bad = APIRouter()

    @bad.post("/bad")
    async def refuse() -> None:
        raise InvalidTaskError("params.size: expected an integer")

    app = create_app(_Daemon(), BearerToken(TOKEN), [bad])
    async with _client(app) as c:
        r = await c.post("/bad")
    assert r.status_code == 422
    assert r.json()["error"] == {"code": "task_invalid", "message": "params.size: expected an integer"}
    assert r.json()["detail"] == [{"loc": ["body", "params", "size"], "msg": "params.size: expected an integer",
                                   "type": "value_error"}]


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                             headers={"Authorization": f"Bearer {TOKEN}"})
