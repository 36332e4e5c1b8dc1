"""Ctrl-C in the terminal that runs `./scripts/run`: the terminal sends SIGINT to the whole foreground
process group. The daemon's children (the embedded nats-server) run in their own session, so only the
daemon gets it and stops them in order; before, nats-server died with the daemon's own SIGINT, the bus
dropped mid-shutdown and the supervisor started a new nats-server while the node was stopping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.helpers import REPO, DaemonProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e


class TerminalDaemon(DaemonProc):
    """A daemon leading its own process group, as a shell's foreground job does (so a group SIGINT does not
    reach pytest)."""

    def start(self, wait_ready: bool = True, timeout: float = 20.0) -> DaemonProc:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.state_dir / "daemon.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hydra_os", "run", "--state-dir", str(self.state_dir),
                 "--node-id", self.node_id, "--api-port", "0"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO), start_new_session=True)
        if wait_ready:
            self.wait_ready(timeout)
        return self


def test_ctrl_c_stops_the_node_and_its_bus_in_order(tmp_path: Path) -> None:
    env = daemon_env(HYDRA_NODE__ROLES="gateway,scheduler", HYDRA_LOG__LEVEL="INFO")
    d = TerminalDaemon("ctrlc", tmp_path / "state", env)
    try:
        d.start(timeout=90)
        assert d.proc is not None
        [nats] = [c for c in psutil.Process(d.proc.pid).children() if "nats-server" in c.name()]
        os.killpg(d.proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        assert d.proc.wait(60) == 0, d.logs()[-3000:]
        wait_for(lambda: not nats.is_running() or nats.status() == psutil.STATUS_ZOMBIE, 30,
                 what="the embedded nats-server gone")
    finally:
        d.stop()
    log = d.logs()
    assert "node ctrlc stopped" in log, log[-3000:]
    for bad in ("supervised bus bus is not running", "supervised bus bus restarted", "bus disconnected"):
        assert bad not in log, log[-3000:]
