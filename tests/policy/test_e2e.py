"""A real daemon with an owner's policy file, driven through the CLI and the HTTP API.

An in-process policy node ("e2", same code the daemon runs) joins the daemon's bus to park
ASK_FIRST actions, so approvals through the CLI and the API execute for real. Exit codes and
one-line errors are checked on real ``hydra`` subprocesses; the other CLI calls run the same Typer
app in-process (``cli``) because a subprocess costs seconds of imports on a loaded CI box.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from hydra_os.bus import names
from hydra_os.bus.auth import local_credentials
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from hydra_os.policy.audit import read_events
from hydra_os.policy.model import Action, OutcomeStatus
from tests.helpers import REPO, DaemonProc, daemon_env
from tests.policy.nodes import Recorder, start_node, wait_until

pytestmark = pytest.mark.e2e

ASK_RESTART = """
[[rule]]
id = "owner-ask-precious"
level = "ASK_FIRST"
kinds = ["service.restart"]
targets = ["unit:precious*"]
reason = "the precious service is restarted by hand only"
"""
NEVER_RESTART = ASK_RESTART.replace('"ASK_FIRST"', '"NEVER"').replace("owner-ask", "owner-never")


def _hydra(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hydra_os", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)


async def hydra(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_hydra, args, env)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    from typer.testing import CliRunner

    from hydra_os.cli.app import app

    res = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
    return subprocess.CompletedProcess(args, res.exit_code, res.stdout, res.stderr)


async def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_cli, args, env)


async def _explain(c: httpx.AsyncClient, target: str = "unit:precious.service") -> dict[str, Any]:
    r = await c.post("/v1/policy/explain", json={"kind": "service.restart", "target": target})
    assert r.status_code == 200, r.text
    return dict(r.json()["decision"])


async def _level_is(c: httpx.AsyncClient, level: str) -> bool:
    return bool((await _explain(c))["level"] == level)


async def _status(c: httpx.AsyncClient, key: str, negate: bool = False) -> bool:
    value = bool((await c.get("/v1/policy")).json()[key])
    return not value if negate else value


async def test_policy_file_reload_maintenance_approvals_and_audit(tmp_path: Path) -> None:
    state = tmp_path / "e1"
    policy = tmp_path / "policy.toml"
    policy.write_text("[[rule]]\nid = 'x'\nlevel = 'SOMETIMES'\nkinds = ['a']\n")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[node]\nid = "e1"\nstate_dir = "{state}"\n\n[policy]\nfile = "{policy}"\n'
                   "reload_interval = 0.2\n")
    env = daemon_env(HYDRA_CONFIG=str(cfg))

    # a malformed policy file: `policy check` and the daemon refuse it with the line
    res = await hydra(["policy", "check"], env)
    assert res.returncode == 2 and "line 3" in res.stderr and "level" in res.stderr, res.stderr
    res = await hydra(["run", "--api-port", "0"], env)
    assert res.returncode == 2 and f"policy file {policy} line 3" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr

    policy.write_text(ASK_RESTART)
    assert (await cli(["policy", "check"], env)).returncode == 0
    d = DaemonProc("e1", state, env).start()
    e2 = None
    bus: Bus | None = None
    try:
        async with httpx.AsyncClient(base_url=d.api_url, headers={"Authorization": f"Bearer {d.token}"},
                                     timeout=10) as c:
            decision = await _explain(c)
            assert decision["level"] == "ASK_FIRST" and decision["rule_id"] == "owner-ask-precious"
            assert (await _explain(c, "unit:other"))["level"] == "AUTONOMOUS"
            bad = await c.post("/v1/policy/explain", json={"kind": "", "target": "x", "colour": 1})
            assert bad.status_code == 422 and "kind" in bad.text and "colour" in bad.text
            async with httpx.AsyncClient(base_url=d.api_url) as anonymous:
                assert (await anonymous.post("/v1/policy/explain", json={})).status_code == 401
                assert (await anonymous.get("/v1/approvals")).status_code == 401

            # hot reload on file change; a malformed edit keeps the last good policy
            policy.write_text(NEVER_RESTART)
            await wait_until(lambda: _level_is(c, "NEVER"), 10, what="reloaded policy")
            policy.write_text(NEVER_RESTART + "\n[[rule]]\nid = 'y'\n")
            await wait_until(lambda: _status(c, "policy_error"), 10, what="reload error")
            assert "line" in (await c.get("/v1/policy")).json()["policy_error"]
            assert (await _explain(c))["level"] == "NEVER"
            res = await cli(["policy", "explain", "service.restart", "unit:precious.service", "--live"], env)
            assert res.returncode == 0 and "NEVER" in res.stdout, res.stdout + res.stderr
            res = await cli(["policy", "reload"], env)
            assert res.returncode == 2 and "keeps policy" in res.stderr
            policy.write_text(ASK_RESTART)
            await wait_until(lambda: _level_is(c, "ASK_FIRST"), 10, what="reloaded again")

            # maintenance, cluster-wide through the bus
            res = await cli(["maintenance", "start", "--for", "2h", "--target", "unit:*", "--reason", "e2e"], env)
            assert res.returncode == 0, res.stderr
            wid = res.stdout.split()[2]
            await wait_until(lambda: _status(c, "maintenance"), 10, what="window mirrored")
            assert "suppressed: maintenance window" in (await _explain(c, "unit:other"))["reason"]
            assert wid in (await cli(["maintenance", "list"], env)).stdout
            assert (await cli(["maintenance", "start", "--for", "soon"], env)).returncode == 2
            assert (await cli(["maintenance", "stop", wid], env)).returncode == 0
            await wait_until(lambda: _status(c, "maintenance", negate=True), 10, what="window closed")
            r = await c.post("/v1/maintenance", json={"duration": "1h", "targets": ["engine:*"], "reason": "api"})
            assert r.status_code == 200, r.text
            assert "suppressed" in (await _explain(c, "engine:vllm"))["reason"]
            assert "suppressed" not in (await _explain(c, "unit:other"))["reason"]  # not covered
            assert (await c.post("/v1/maintenance", json={"duration": "later"})).status_code == 422
            assert (await c.delete(f"/v1/maintenance/{r.json()['id']}")).json()["ended"] == [r.json()["id"]]
            assert (await c.delete("/v1/maintenance/nope")).status_code == 404

            # approvals: a second node parks ASK_FIRST actions; the owner decides via CLI and API
            bus = Bus(d.runtime["bus"], BusConfig(), name="e2", credentials=local_credentials(d.state_dir))
            await bus.connect()
            e2 = await start_node(bus, "e2")
            rec = Recorder()
            e2.gate.register_executor("data.delete", rec)
            first = await e2.gate.submit(Action(kind="data.delete", target="archival:old"))
            second = await e2.gate.submit(Action(kind="data.delete", target="archival:older"))
            assert first.status is OutcomeStatus.PENDING and first.approval_id and second.approval_id
            listed = json.loads((await cli(["approvals", "--json"], env)).stdout)
            assert {a["id"] for a in listed} == {first.approval_id, second.approval_id}
            res = await hydra(["approve", first.approval_id], env)
            assert res.returncode == 0 and "-> succeeded" in res.stdout, res.stdout + res.stderr
            res = await cli(["approve", first.approval_id], env)
            assert res.returncode == 0 and "already approved" in res.stdout
            r = await c.post(f"/v1/approvals/{first.approval_id}/approve", json={})
            assert r.status_code == 200 and r.json()["changed"] is False
            assert len(rec.ran) == 1
            r = await c.post(f"/v1/approvals/{second.approval_id}/deny", json={"note": "no"})
            assert r.status_code == 200 and r.json()["approval"]["state"] == "denied"
            assert (await c.post(f"/v1/approvals/{second.approval_id}/approve")).status_code == 409
            assert (await c.post("/v1/approvals/nope/approve")).status_code == 404
            res = await hydra(["deny", "nope"], env)
            assert res.returncode == 2 and res.stderr.count("\n") == 1 and "no approval 'nope'" in res.stderr
            assert rec.ran == [first.action]
            await wait_until(lambda: _has(bus, "e2", "approval.denied"), what="denied receipt")

        # audit: the whole trail verifies; then a removed event is found
        res = await hydra(["audit", "verify"], env)
        assert res.returncode == 0, res.stdout + res.stderr
        log = await cli(["audit", "log", "--since", "1h", "--type", "policy.reload", "--json"], env)
        types = [json.loads(line)["type"] for line in log.stdout.splitlines()]
        assert set(types) == {"policy.reload_failed", "policy.reloaded"}, log.stdout + log.stderr
        assert "policy.reload" in (await cli(["audit", "log"], env)).stdout
        assert bus is not None
        victim = [e for e in await read_events(bus, node="e1")][1]
        await bus.js.delete_msg(names.EVENTS_STREAM, victim.seq)
        res = await hydra(["audit", "verify"], env)
        assert res.returncode == 1 and "BROKEN e1" in res.stdout and "removed" in res.stdout, res.stdout
    finally:
        if e2 is not None:
            await e2.stop()
        if bus is not None:
            await bus.close()
        d.stop()


async def _has(bus: Bus, node: str, type_: str) -> bool:
    return any(e.event and e.event.type == type_ for e in await read_events(bus, node=node))
