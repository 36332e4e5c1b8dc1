"""Daemon lifecycle: clean stop, systemd notify, lock, and bad input that must exit 2 with one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import REPO, DaemonProc, NatsProc, daemon_env, free_port, wait_for

pytestmark = pytest.mark.e2e


def _hydra(args: list[str], env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hydra_os", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_embedded_defaults_start_serve_and_stop_cleanly(tmp_path: Path) -> None:
    d = DaemonProc("solo", tmp_path / "solo", daemon_env()).start()
    nats_pid = None
    try:
        with d.client() as c:
            st = c.get("/v1/status").json()
            assert st["ready"] and st["bus"]["embedded"] and st["bus"]["connected"]
            nats_pid = st["bus"]["embedded_pid"]
            assert [n["id"] for n in c.get("/v1/nodes").json()] == ["solo"]
        token = d.state_dir / "api-token"
        assert token.stat().st_mode & 0o777 == 0o600
        assert "generated an API token at" in d.logs()
    finally:
        assert d.stop() == 0
    assert nats_pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(nats_pid, 0)  # the embedded nats-server went down with the daemon
    assert not (d.state_dir / "runtime.json").exists()


def test_kill9_takes_the_embedded_server_along(tmp_path: Path) -> None:
    d = DaemonProc("solo", tmp_path / "solo", daemon_env()).start()
    with d.client() as c:
        nats_pid = c.get("/v1/status").json()["bus"]["embedded_pid"]
    d.kill9()

    def gone() -> bool:
        try:
            os.kill(nats_pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, 10, what="embedded nats-server exits after its parent is killed")
    d.start()  # and the same state dir starts again (lock released by the kernel, JetStream store reusable)
    d.stop()


def test_sd_notify_ready_and_watchdog(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(sock_path))
    srv.settimeout(20)
    env = daemon_env(NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="400000")
    d = DaemonProc("sd", tmp_path / "sd", env).start(wait_ready=False)
    try:
        got: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not ("READY=1" in "".join(got) and got.count("WATCHDOG=1") >= 2):
            got.append(srv.recv(4096).decode())
        first_ready = next(i for i, m in enumerate(got) if "READY=1" in m)
        assert got.count("WATCHDOG=1") >= 2
        assert all("WATCHDOG" not in m for m in got[:first_ready])  # no pings before ready
        d.stop()
        srv.settimeout(5)
        rest = []
        try:
            while True:
                rest.append(srv.recv(4096).decode())
        except TimeoutError:
            pass
        assert "STOPPING=1" in rest
    finally:
        d.stop()
        srv.close()


def test_second_daemon_on_same_state_dir_is_refused(tmp_path: Path) -> None:
    d = DaemonProc("one", tmp_path / "s", daemon_env()).start()
    try:
        r = _hydra(["run", "--state-dir", str(d.state_dir), "--api-port", "0"], daemon_env())
        assert r.returncode == 2
        assert "another hydra daemon" in r.stderr and str(d.proc.pid if d.proc else "") in r.stderr
        assert "Traceback" not in r.stderr
        assert d.proc is not None and d.proc.poll() is None  # the first one is unharmed
    finally:
        d.stop()


def test_unreachable_bus_url(tmp_path: Path) -> None:
    port = free_port()
    r = _hydra(["run", "--state-dir", str(tmp_path / "s"), "--api-port", "0"],
               daemon_env(HYDRA_BUS__URL=f"nats://127.0.0.1:{port}", HYDRA_BUS__CONNECT_TIMEOUT="0.5"))
    assert r.returncode == 2
    assert f"cannot reach NATS at nats://127.0.0.1:{port}" in r.stderr and "bus.url" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "s" / "runtime.json").exists()


def test_api_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _hydra(["run", "--state-dir", str(tmp_path / "s"), "--api-port", str(port)], daemon_env())
    assert r.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "api.port" in r.stderr
    assert not list((tmp_path / "s").glob("nats/jetstream"))  # bus never started


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_state_dir_as_user(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o500)
    r = _hydra(["run", "--state-dir", str(locked / "s"), "--api-port", "0"], daemon_env())
    assert r.returncode == 2 and "state dir" in r.stderr


def test_unwritable_state_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = _hydra(["run", "--state-dir", str(blocker / "s"), "--api-port", "0"], daemon_env())
    assert r.returncode == 2
    assert "cannot create state dir" in r.stderr and "node.state_dir" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_malformed_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[api]\nport = "eighty"\n')
    r = _hydra(["--config", str(cfg), "run", "--state-dir", str(tmp_path / "s")], daemon_env())
    assert r.returncode == 2
    assert "api.port" in r.stderr and "'eighty'" in r.stderr and "integer" in r.stderr
    cfg.write_text("[api\nport = 1\n")
    r = _hydra(["--config", str(cfg), "run"], daemon_env())
    assert r.returncode == 2 and "not valid TOML" in r.stderr and "line 1" in r.stderr
    assert not (tmp_path / "s").exists()  # nothing half-started


def test_healthz_readyz_without_token_and_401s(tmp_path: Path, nats_proc: NatsProc) -> None:
    d = DaemonProc("api", tmp_path / "api", daemon_env(HYDRA_BUS__URL=nats_proc.url)).start()
    try:
        base = d.api_url
        assert httpx.get(base + "/healthz").json() == {"status": "ok"}
        assert httpx.get(base + "/readyz").status_code == 200
        for path in ("/v1/status", "/v1/nodes"):
            r = httpx.get(base + path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            r = httpx.get(base + path, headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401
            r = httpx.get(base + path, headers={"Authorization": "Basic Zm9vOmJhcg=="})
            assert r.status_code == 401
        schema = httpx.get(base + "/openapi.json").json()
        assert {"/healthz", "/readyz", "/v1/status", "/v1/nodes"} <= set(schema["paths"])
    finally:
        d.stop()


def test_every_component_reports_its_lifecycle_state(tmp_path: Path) -> None:
    """/v1/status: each component's status carries lifecycle {state, reason} beside its own keys."""
    d = DaemonProc("states", tmp_path / "states", daemon_env()).start()
    try:
        with d.client() as c:
            def all_running() -> Any:
                comps = c.get("/v1/status").json()["components"]
                states = {name: comp["lifecycle"]["state"] for name, comp in comps.items()}
                return comps if set(states.values()) == {"running"} else None

            comps = wait_for(all_running, 60, what="every component running")  # memory opens in the background
        assert {"policy", "healing", "gateway", "memory", "intake", "tasks.worker", "scheduler"} <= set(comps)
        assert comps["memory"]["state"] == "serving" and comps["memory"]["lifecycle"]["reason"] is None
        assert "slots" in comps["tasks.worker"]  # the component's own keys stay
    finally:
        assert d.stop() == 0
