"""An approved restart of a supervised child that is waiting when the daemon starts (issue 18 item 5).

The approval runner used to run it as soon as the policy service started, before the healing
component's supervisor had started its children: the restart spawned the child itself while the
supervisor spawned it too (two processes), or killed the one the supervisor was waiting for (the
daemon exited 2 with the approval left ``executing``). Now the approval waits for the component
that executes it, and only the supervisor spawns children.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from hydra_os.policy.approvals import ApprovalRecord, ApprovalStore
from hydra_os.policy.audit import read_events
from hydra_os.policy.model import Action, BlastRadius, Decision, Level
from tests.healing.conftest import SYSTEMCTL
from tests.helpers import DaemonProc, NatsProc, daemon_env, free_port, wait_for

pytestmark = pytest.mark.e2e

NODE = "boot1"


def slow_child(port: int, pids: Path, delay: float = 1.0) -> list[str]:
    """A child that records its pid, then takes ``delay`` seconds before it answers its health URL."""
    code = (
        "import http.server,os,time\n"
        f"open({str(pids)!r},'a').write(f'{{os.getpid()}}\\n')\n"
        f"time.sleep({delay!r})\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def log_message(self,*a): pass\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length','2'); self.end_headers();"
        " self.wfile.write(b'ok')\n"
        "class S(http.server.ThreadingHTTPServer): allow_reuse_address=True\n"
        f"S(('127.0.0.1',{port}),H).serve_forever()\n"
    )
    return [sys.executable, "-c", code]


RESTART = Action(kind="process.restart", target="process:counter", params={"name": "counter", "node": NODE},
                 reversible=True, blast_radius=BlastRadius.SERVICE, summary="restart supervised process counter")


async def park_approved_restart(url: str) -> str:
    """What a node that crashed right after an approval leaves behind: an approved restart of its child."""
    async with Bus([url], BusConfig(request_timeout=10), name="test-owner") as bus:
        await bus.ensure_topology(3.0)
        store = ApprovalStore(await bus.kv(names.APPROVALS_BUCKET))
        rec = await store.create(RESTART, Decision(level=Level.ASK_FIRST, rule_id="owner", reason="test"), NODE, 600)
        await store.approve(rec.id, by="owner")
        return rec.id


async def read_approval(url: str, approval_id: str) -> ApprovalRecord:
    async with Bus([url], BusConfig(request_timeout=10), name="test-probe") as bus:
        return await ApprovalStore(await bus.kv(names.APPROVALS_BUCKET)).get(approval_id)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def daemon_with_child(nats: NatsProc, tmp_path: Path, pids: Path, delay: float) -> DaemonProc:
    """A daemon (node NODE, on ``nats``) supervising one slow child, ``counter``."""
    port = free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[node]\nroles = ["gateway"]\n'
        f"[healing]\nsystemctl = {json.dumps(SYSTEMCTL)}\n"
        "[[healing.children]]\n"
        'name = "counter"\nkind = "process"\n'
        f"argv = {json.dumps(slow_child(port, pids, delay))}\n"
        f'health_url = "http://127.0.0.1:{port}/"\nstart_timeout_s = 30\n'
    )
    return DaemonProc(NODE, tmp_path / "state", daemon_env(
        HYDRA_CONFIG=str(cfg), HYDRA_BUS__URL=nats.url, SYSTEMCTL_STANDIN_DIR=str(tmp_path / "sd"),
        HYDRA_LOG__LEVEL="INFO"))


def test_an_approved_restart_waiting_at_start_up_runs_once_after_the_supervisor_started(
        nats_proc: NatsProc, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    approval_id = asyncio.run(park_approved_restart(nats_proc.url))
    d = daemon_with_child(nats_proc, tmp_path, pids, delay=1.0).start(timeout=90)
    try:
        rec = wait_for(lambda: (r := asyncio.run(read_approval(nats_proc.url, approval_id))).state
                       in ("succeeded", "failed") and r, 60, interval=0.5, what="the approval finished")
        assert rec.state == "succeeded", rec
        with d.client() as c:
            [kid] = [k for k in c.get("/v1/healing/children").json() if k["name"] == "counter"]
        started = [int(p) for p in pids.read_text().split()]
        assert len(started) == 2, started  # the supervisor's start, then the approved restart
        assert [p for p in started if alive(p)] == [kid["pid"]]  # one child, the supervisor's
        assert kid["restarts"] == 1 and kid["healthy"]
    finally:
        assert d.stop() == 0, d.logs()


async def approve_and_wait_executing(url: str) -> str:
    async with Bus([url], BusConfig(request_timeout=10), name="test-owner") as bus:
        store = ApprovalStore(await bus.kv(names.APPROVALS_BUCKET))
        rec = await store.create(RESTART, Decision(level=Level.ASK_FIRST, rule_id="owner", reason="test"), NODE, 600)
        await store.approve(rec.id, by="owner")
        for _ in range(600):
            if (await store.get(rec.id)).state == "executing":
                return rec.id
            await asyncio.sleep(0.05)
        raise AssertionError(f"approval {rec.id} never started executing: {await store.get(rec.id)}")


async def set_executing(url: str, approval_id: str) -> None:
    """Write the state a node killed mid-execution leaves, through the real KV (a CAS like the claim)."""
    async with Bus([url], BusConfig(request_timeout=10), name="test-crashed-node") as bus:
        store = ApprovalStore(await bus.kv(names.APPROVALS_BUCKET))
        await store.transition(approval_id, lambda r: r.model_copy(update={
            "state": "executing", "finished_at": None, "error": None, "receipted_state": None}))


async def failure_receipts(url: str, approval_id: str) -> int:
    async with Bus([url], BusConfig(request_timeout=10), name="test-audit") as bus:
        events = await read_events(bus, node=NODE)
    return sum(1 for e in events if e.event and e.event.type == "policy.outcome"
               and e.event.data.get("approval_id") == approval_id and e.event.data.get("status") == "failed")


def test_an_approval_interrupted_by_kill_9_is_closed_as_failed_with_a_receipt_on_every_restart(
        nats_proc: NatsProc, tmp_path: Path) -> None:
    d = daemon_with_child(nats_proc, tmp_path, tmp_path / "pids", delay=6.0)
    d.start(timeout=90)
    approval_id = asyncio.run(approve_and_wait_executing(nats_proc.url))
    d.kill9()  # mid-restart: the child is still starting
    for round_ in (1, 2):
        d.start(timeout=90)
        try:
            rec = wait_for(lambda: (r := asyncio.run(read_approval(nats_proc.url, approval_id))).state
                           != "executing" and r, 60, interval=0.5, what="the interrupted approval closed")
            assert rec.state == "failed" and "restart" in (rec.error or ""), rec
            assert rec.receipted_state == "failed"
            assert wait_for(lambda n=round_: asyncio.run(failure_receipts(nats_proc.url, approval_id)) == n, 30,
                            interval=0.5, what=f"{round_} failure receipt(s)")
        finally:
            assert d.stop() == 0, d.logs()
        asyncio.run(set_executing(nats_proc.url, approval_id))  # and once more, as a crashed node leaves it
