"""The daemon's own nats-server, kill -9'd, comes back through healing and the bus reconnects."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.helpers import DaemonProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e


def test_killed_embedded_bus_is_restarted(tmp_path: Path) -> None:
    d = DaemonProc("solo", tmp_path / "solo", daemon_env(HYDRA_NODE__ROLES="gateway")).start()
    try:
        with d.client() as c:
            st = c.get("/v1/status").json()
            old_pid = st["bus"]["embedded_pid"]
            os.kill(old_pid, signal.SIGKILL)

            def back() -> bool:
                s = c.get("/v1/status").json()
                return bool(s["bus"]["connected"] and s["bus"]["embedded_pid"] not in (None, old_pid)
                            and s["bus"]["reconnects"] >= 1)

            wait_for(back, 20, what="embedded bus restarted and reconnected")
            wait_for(lambda: [n["id"] for n in c.get("/v1/nodes").json()] == ["solo"], 10, what="still registered")
    finally:
        assert d.stop() == 0
