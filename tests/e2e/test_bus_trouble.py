"""Bus trouble a daemon must ride out (issue 18): the server frozen (SIGSTOP) for longer than every
timeout, and the embedded server kill -9'd and restarted by healing (its memory-storage buckets
gone). Real nats-server, real daemon, real HTTP API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import REPO, DaemonProc, NatsProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e


def _env(**extra: str) -> dict[str, str]:
    return daemon_env(
        HYDRA_NODE__ROLES="gateway,worker",
        HYDRA_TASKS__KIND_MODULES='["tests.tasks.kinds"]',
        HYDRA_LOG__LEVEL="INFO",
        **extra,
    )


def _enqueue(c: httpx.Client, key: str) -> int:
    try:
        return c.post("/v1/tasks", json={"kind": "test.stamp", "idempotency_key": key}, timeout=10).status_code
    except httpx.HTTPError:
        return 0


def _readyz(d: DaemonProc) -> int:
    try:
        return httpx.get(d.api_url + "/readyz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def test_a_frozen_server_makes_the_node_unready_and_it_recovers_after(tmp_path: Path, nats_proc: NatsProc) -> None:
    # a bus.url server: healing cannot restart it (the embedded one it would kill and restart)
    assert nats_proc.proc is not None
    nats_pid = nats_proc.proc.pid
    d = DaemonProc("frz", tmp_path / "frz", _env(HYDRA_BUS__URL=nats_proc.url)).start()
    try:
        with d.client() as c:
            assert _enqueue(c, "before") == 201
            os.kill(nats_pid, signal.SIGSTOP)
            try:
                # while frozen: readiness says so (nats-py alone keeps calling the connection up)
                wait_for(lambda: _readyz(d) == 503, 15, interval=0.5, what="/readyz 503 while the bus is frozen")
                # readiness can go first (a task store refused by the frozen bus); the probe follows
                wait_for(lambda: c.get("/v1/status").json()["bus"]["usable"] is False, 15, interval=0.5,
                         what="the bus probe reports the frozen bus")
                st = c.get("/v1/status").json()["bus"]
                assert st["usable"] is False and st["probe_error"], st
                time.sleep(max(0.0, 16 - 5))  # frozen well past every request and probe timeout
            finally:
                os.kill(nats_pid, signal.SIGCONT)
            # after: writes succeed again within a bounded time, and keep succeeding
            wait_for(lambda: _enqueue(c, "after-0") in (200, 201), 45, interval=0.5, what="an enqueue after the freeze")
            codes = [_enqueue(c, f"after-{i}") for i in range(1, 21)]
            assert codes == [201] * 20, codes
            wait_for(lambda: _readyz(d) == 200, 20, interval=0.5, what="ready again")
            st = c.get("/v1/status").json()["bus"]
            assert st["usable"] is True and st["connected"] is True
            assert "bus not usable" in d.logs() and "bus usable again" in d.logs()
    finally:
        assert d.stop() == 0


def test_buckets_come_back_after_the_embedded_server_restarts(tmp_path: Path) -> None:
    d = DaemonProc("rst", tmp_path / "rst", _env()).start()
    try:
        with d.client() as c:
            old_pid = c.get("/v1/status").json()["bus"]["embedded_pid"]
            os.kill(old_pid, signal.SIGKILL)

            def restarted() -> bool:
                s = c.get("/v1/status").json()["bus"]
                return bool(s["connected"] and s["embedded_pid"] not in (None, old_pid) and s["reconnects"] >= 1)

            wait_for(restarted, 30, what="embedded bus restarted by healing")
            # membership heartbeats resume into a recreated hydra_nodes bucket, and the CLI sees the node
            env = daemon_env(HYDRA_NODE__STATE_DIR=str(d.state_dir), HYDRA_NODE__ID="rst")

            def cli_nodes() -> bool:
                r = subprocess.run([sys.executable, "-m", "hydra_os", "nodes", "--json"], env=env, cwd=REPO,
                                   capture_output=True, text=True, timeout=60, check=False)
                return r.returncode == 0 and '"rst"' in r.stdout

            wait_for(cli_nodes, 40, interval=1, what="'hydra nodes' lists the node after the restart")
            first = c.get("/v1/nodes").json()[0]["heartbeat_at"]
            wait_for(lambda: c.get("/v1/nodes").json()[0]["heartbeat_at"] > first, 15, what="heartbeats resume")
            assert _enqueue(c, "after-restart") == 201
            wait_for(lambda: _readyz(d) == 200, 20, what="ready")
    finally:
        assert d.stop() == 0
