"""A real `hydra run` with the healing component: a supervised child killed with -9 comes back."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.healing.conftest import SYSTEMCTL
from tests.helpers import DaemonProc, daemon_env, free_port, wait_for

pytestmark = pytest.mark.e2e


def test_daemon_heals_a_killed_child(tmp_path: Path, child_script: Any) -> None:
    port = free_port()
    argv = child_script(port)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        # gateway only: keeps this test about healing (the memory role loads an embedder at startup)
        '[node]\nroles = ["gateway"]\n'
        "[healing]\n"
        f"systemctl = {json.dumps(SYSTEMCTL)}\n"
        "[[healing.children]]\n"
        'name = "engine-a"\nkind = "engine"\n'
        f"argv = {json.dumps(argv)}\n"
        f'health_url = "http://127.0.0.1:{port}/"\n'
    )
    d = DaemonProc("heal1", tmp_path / "state", daemon_env(HYDRA_CONFIG=str(cfg),
                                                           SYSTEMCTL_STANDIN_DIR=str(tmp_path / "sd")))
    d.start()
    try:
        with d.client() as c:
            # the daemon's embedded nats-server is supervised too; this test is about the engine
            kids = [k for k in c.get("/v1/healing/children").json() if k["name"] == "engine-a"]
            [kid] = kids
            assert kid["healthy"] and kid["pid"]
            os.kill(kid["pid"], signal.SIGKILL)
            t0 = time.monotonic()

            def back() -> Any:
                k = next(k for k in c.get("/v1/healing/children").json() if k["name"] == "engine-a")
                return k if k["restarts"] == 1 and k["healthy"] else None

            k = wait_for(back, 15, what="child restarted")
            assert k["pid"] != kid["pid"]
            assert time.monotonic() - t0 < 15
            def acted() -> Any:  # the action is recorded once the gate's receipts are written
                got = c.get("/v1/healing/incidents", params={"all": True}).json()
                return got if got and got[0]["actions"] else None

            incs = wait_for(acted, 10, what="the restart recorded in the incident")
            assert incs[0]["root"] == "process:engine-a"
            assert incs[0]["actions"][0]["level"] == "AUTONOMOUS"
            assert c.post("/v1/healing/run").status_code == 200
    finally:
        assert d.stop() == 0, d.logs()

