"""node.stop_timeout bounds the whole shutdown: a stop that hangs does not keep the daemon alive,
and the log names what was still running. A real daemon, SIGTERM, and a task handler that
swallows cancellation (tests/tasks/stubborn_kinds.py)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import DaemonProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e


def test_a_hanging_stop_does_not_keep_the_daemon_alive(tmp_path: Path) -> None:
    env = daemon_env(HYDRA_NODE__ROLES="gateway,worker", HYDRA_NODE__STOP_TIMEOUT="4",
                     HYDRA_TASKS__KIND_MODULES='["tests.tasks.stubborn_kinds"]')
    d = DaemonProc("hang", tmp_path / "hang", env).start()
    assert d.proc is not None
    try:
        with d.client() as c:
            r = c.post("/v1/tasks", json={"kind": "test.stubborn"})
            assert r.status_code == 201, r.text
            task_id = r.json()["task"]["id"]
            wait_for(lambda: c.get(f"/v1/tasks/{task_id}").json()["task"]["state"] == "running", 20,
                     what="task running")
        d.proc.send_signal(signal.SIGTERM)
        try:
            code = d.proc.wait(90)  # generous for a loaded machine; unbounded before node.stop_timeout
        except subprocess.TimeoutExpired:
            raise AssertionError("the daemon did not exit after SIGTERM:\n" + d.logs()[-3000:]) from None
        assert code == 1, d.logs()[-3000:]
        log = d.logs()
        assert "shutdown exceeded node.stop_timeout (4s)" in log, log[-3000:]
        [line] = [ln for ln in log.splitlines() if "shutdown exceeded" in ln]
        assert "while stopping component tasks.worker" in line  # the step that hung
        assert f"task-{task_id} (" in line  # and the handler still running, by its task name
        assert not (d.state_dir / "runtime.json").exists()
    finally:
        d.kill9()
