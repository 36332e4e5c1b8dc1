"""e2e: start the daemon exactly as the generated unit says (ExecStart, Environment, the generated
config.toml) under a stand-in for systemd's notify socket: READY=1, WATCHDOG=1 at the unit's
WatchdogSec, the API on the configured port, STOPPING=1 and exit 0 on SIGTERM."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port
from tests.nix.nixeval import ENABLE, REPO, eval_host, requires_nix

pytestmark = [requires_nix, pytest.mark.e2e]


def service_section(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(directives, environment) of the [Service] section; the last value of a directive wins."""
    directives: dict[str, str] = {}
    env: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line:
            key, value = line.split("=", 1)
            if key == "Environment":
                k, v = json.loads(value).split("=", 1)
                env[k] = v
            else:
                directives[key] = value
    return directives, env


def seconds(value: str) -> float:
    assert value.endswith("s"), value
    return float(value[:-1])


def recv_until(sock: socket.socket, wanted: str, deadline: float, seen: list[str]) -> None:
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except TimeoutError:
            break
        seen.append(msg)
        if wanted in msg.split("\n"):
            return
    raise AssertionError(f"no {wanted} from the daemon; got {seen}")


def test_daemon_runs_under_the_generated_unit(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "bin").mkdir(parents=True)
    hydra = pkg / "bin" / "hydra"
    hydra.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m hydra_os \"$@\"\n")
    hydra.chmod(0o755)
    port = free_port()
    r = eval_host(
        ENABLE,
        '{ services.hydra-os.roles = [ "worker" ]; }',
        f'{{ services.hydra-os.settings = {{ node.id = "unit-e2e"; api.port = {port}; }}; }}',
        '{ lib, ... }: { systemd.services.hydra-os.serviceConfig.WatchdogSec = lib.mkForce "2s"; }',
        package_out_path=pkg,
    )
    directives, unit_env = service_section(r["units"]["hydra-os"]["text"])
    assert directives["Type"] == "notify"
    config = tmp_path / "config.toml"
    config.write_text(r["configToml"])

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYDRA_", "NOTIFY_", "WATCHDOG_"))}
    env.update({k: v for k, v in unit_env.items() if k != "PATH"})  # PATH names fake store paths
    assert env["HYDRA_CONFIG"] == "/etc/hydra-os/config.toml"
    env["HYDRA_CONFIG"] = str(config)  # what environment.etc would have put there
    env["HYDRA_NODE__STATE_DIR"] = str(tmp_path / "state")  # StateDirectory= stand-in
    notify_path = tmp_path / "notify.sock"
    env["NOTIFY_SOCKET"] = str(notify_path)
    env["WATCHDOG_USEC"] = str(int(seconds(directives["WatchdogSec"]) * 1_000_000))

    seen: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify_path))
        # cwd: the working tree, as tests/helpers.DaemonProc does (the package is the tree here)
        proc = subprocess.Popen(shlex.split(directives["ExecStart"]), env=env, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=(tmp_path / "daemon.log").open("wb"))
        try:
            try:
                recv_until(sock, "READY=1", time.monotonic() + 30, seen)
            except AssertionError as e:
                raise AssertionError(f"{e}\ndaemon log:\n{(tmp_path / 'daemon.log').read_text()[-3000:]}") from None
            resp = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert resp.status_code == 200
            recv_until(sock, "WATCHDOG=1", time.monotonic() + 5, seen)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, (tmp_path / "daemon.log").read_text()
            recv_until(sock, "STOPPING=1", time.monotonic() + 1, seen)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
