"""The test harness itself: a daemon whose readiness wait fails is stopped, and a slow /readyz is waited for."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import DaemonProc, daemon_env, wait_for


def _processes_naming(text: str) -> list[int]:
    """Live processes whose command line names ``text`` (the daemon and its embedded nats-server)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            out.append(int(proc.name))
    return out


def test_a_daemon_that_is_not_ready_in_time_is_stopped_not_leaked(tmp_path: Path) -> None:
    state = tmp_path / "leaky-node"
    d = DaemonProc("leaky", state, daemon_env())
    with pytest.raises(AssertionError, match="timed out"):
        d.start(timeout=0.05)  # no daemon is ready in 50 ms
    try:
        assert d.proc is not None and d.proc.poll() is not None, "the daemon still runs after its start failed"
        wait_for(lambda: not _processes_naming(str(state)), 20, what="no process of the failed daemon left")
    finally:
        d.stop()


class _SlowReadyz(BaseHTTPRequestHandler):
    delay_s = 1.5

    def do_GET(self) -> None:
        time.sleep(self.delay_s)  # a loaded machine: the answer comes, but after more than a second
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def slow_readyz() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowReadyz)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_wait_ready_tolerates_a_slow_readyz_answer(tmp_path: Path, slow_readyz: str) -> None:
    """A daemon that answers /readyz 200 in 1.5 s is ready (a 1 s cap per poll said "not ready" until
    the overall bound ran out)."""
    d = DaemonProc("slow", tmp_path, {})
    (tmp_path / "runtime.json").write_text(json.dumps({"api_url": slow_readyz}))
    d.wait_ready(timeout=20)
