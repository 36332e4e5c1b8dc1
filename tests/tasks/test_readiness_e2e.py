"""A real daemon whose JetStream refuses task listings says so: 503 on the route, unready on /readyz.

The refusal is the real one from issue 10 item 9: the tasks bucket's stream at nats-server's limit
of consumers (another client fills it here), so ``GET /v1/tasks`` cannot create its scan consumer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from tests.helpers import DaemonProc, NatsProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e

STREAM = f"KV_{names.TASKS_BUCKET}"


async def fill_consumers(url: str) -> list[str]:
    """Create consumers on the tasks bucket's stream until the server refuses; returns their names."""
    made: list[str] = []
    async with Bus([url], BusConfig(request_timeout=30), name="test-filler") as bus:
        while True:
            cfg = ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=120, mem_storage=True)
            try:
                made.append(str((await bus.js.add_consumer(STREAM, cfg)).name))
            except Exception as e:  # the server's refusal ends the filling
                assert "maximum consumers" in str(e), e
                return made


async def drop_consumers(url: str, made: list[str]) -> None:
    async with Bus([url], BusConfig(request_timeout=30), name="test-filler") as bus:
        await asyncio.gather(*(bus.js.delete_consumer(STREAM, n) for n in made))


def test_readyz_reports_the_tasks_subsystem_when_jetstream_refuses_it(nats_proc: NatsProc, tmp_path: Path) -> None:
    env = daemon_env(HYDRA_BUS__URL=nats_proc.url, HYDRA_NODE__ROLES="gateway", HYDRA_LOG__LEVEL="INFO")
    d = DaemonProc("ready1", tmp_path / "d", env).start(timeout=60)
    try:
        with d.client() as c:
            assert c.get("/v1/tasks").status_code == 200
            made = asyncio.run(fill_consumers(nats_proc.url))
            assert len(made) > 10
            r = c.get("/v1/tasks")
            assert r.status_code == 503, r.text  # a bus problem, not a 500
            assert "maximum consumers" in r.json()["detail"]
            ready = httpx.get(d.api_url + "/readyz", timeout=5)
            assert ready.status_code == 503
            assert "maximum consumers" in ready.json()["unready"]["tasks"]
            asyncio.run(drop_consumers(nats_proc.url, made))
            wait_for(lambda: c.get("/v1/tasks").status_code == 200, 30, interval=0.5, what="listing again")
            ready = httpx.get(d.api_url + "/readyz", timeout=5)
            assert ready.status_code == 200 and ready.json() == {"ready": True, "failing": []}
    finally:
        assert d.stop() == 0, d.logs()
