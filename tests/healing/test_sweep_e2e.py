"""The scheduler's built-in health loop on a real daemon: its ``health.sweep`` task has a handler, so the
job runs (it was skipped forever before: no worker handled the kind) and reports every node's checks."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DaemonProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e


def test_health_job_runs_the_checks_of_every_node(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[node]\nroles = ["gateway", "worker", "scheduler"]\n'
                   '[tasks.scheduler]\nbuiltin_jobs = ["health"]\nhealth_interval_s = 2\n')
    d = DaemonProc("w1", tmp_path / "w1", daemon_env(HYDRA_CONFIG=str(cfg))).start()
    try:
        with d.client() as c:
            def swept() -> Any:
                tasks = c.get("/v1/tasks", params={"all": True}).json()
                done = [t for t in tasks if t["kind"] == "health.sweep" and t["state"] == "succeeded"]
                return done[0] if done else None

            task = wait_for(swept, 40, interval=0.5, what="a health.sweep task succeeded")
            sched = c.get("/v1/schedule").json()
            [health] = [j for j in sched["jobs"] if j["id"] == "health"]
            assert (health["last"] or {}).get("outcome") != "skipped", health
        result = task["result"]
        node = result["nodes"]["w1"]
        assert {"bus_reachable", "disk_space", "node_reachable"} <= set(node["checks"]), node
        assert result["summary"].startswith("1 node(s) checked")
    finally:
        assert d.stop() == 0, d.logs()
