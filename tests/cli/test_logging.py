"""One log format: libraries that log through the standard ``logging`` module (the MCP SDK, APScheduler,
uvicorn) go through the daemon's own sink, so ``log.json_lines`` gives only JSON lines, and the MCP SDK
cannot install its own Rich handler on the root logger (which printed every scheduler run at INFO in a
second format). CLI commands print warnings and errors, not debug lines."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hydra_os.mcp import sdk_available
from tests.helpers import REPO, DaemonProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(not sdk_available(), reason="the mcp extra is not installed (its SDK configured logging)")
def test_daemon_json_lines_hold_every_library_log_line(tmp_path: Path) -> None:
    env = daemon_env(HYDRA_LOG__JSON_LINES="true", HYDRA_LOG__LEVEL="INFO", HYDRA_NODE__ROLES="gateway,scheduler",
                     HYDRA_MEMORY__EMBED__BACKEND="hashing")
    d = DaemonProc("logs", tmp_path / "state", env)
    try:
        d.start(timeout=90)
        with d.client() as c:  # the MCP endpoint is up (its SDK was loaded and its server built)
            r = c.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                       headers={"accept": "application/json, text/event-stream"})
            assert r.status_code == 200, r.text
        wait_for(lambda: "ready in" in d.logs(), 30, what="the ready line")
        host, port = d.api_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:  # uvicorn logs a bad request line
            s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            s.recv(1024)
        wait_for(lambda: "Invalid HTTP request" in d.logs(), 30, what="uvicorn's warning")
    finally:
        assert d.stop() == 0
    lines = [ln for ln in d.logs().splitlines() if ln.strip()]
    not_json = []
    for ln in lines:
        try:
            json.loads(ln)
        except ValueError:
            not_json.append(ln)
    assert not not_json, "\n".join(not_json[:10])
    records = [json.loads(ln)["record"] for ln in lines]
    # the scheduler's and the SDK's INFO chatter stays out at the default level; the daemon's own lines are in
    assert any("ready in" in r["message"] for r in records)
    assert any("Invalid HTTP request" in r["message"] for r in records)  # uvicorn's own lines too
    assert not any("StreamableHTTP session manager" in r["message"] for r in records)


def test_cli_command_prints_no_debug_lines(tmp_path: Path) -> None:
    env = daemon_env(HYDRA_NODE__STATE_DIR=str(tmp_path / "state"), HYDRA_MEMORY__EMBED__BACKEND="hashing")
    out = subprocess.run([sys.executable, "-m", "hydra_os", "doctor"], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=120, check=False)
    assert "python" in out.stdout, out.stdout + out.stderr
    assert "DEBUG" not in out.stderr, out.stderr
