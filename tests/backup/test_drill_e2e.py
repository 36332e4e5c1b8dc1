"""The recovery drill: a real daemon with memory, tasks, schedules, approvals and events is backed up
(``hydra backup now``, through its policy gate), stopped, its state dir deleted, restored with ``hydra
backup restore`` and started again; it answers the same memory queries, shows the same tasks, schedules
and approvals, and ``hydra audit verify`` passes. The same backup then proves that verify catches a
flipped byte and that restore refuses a non-empty target."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hydra_os.backup.archive import read_manifest
from tests.helpers import REPO, DaemonProc, daemon_env, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

POLICY = ('[[rule]]\nid = "ask-restarts"\nlevel = "ASK_FIRST"\nkinds = ["unit.restart"]\n'
          'reason = "the owner decides"\ntargets = ["unit:ollama.service"]\n')
FACTS = ["the NAS is at 10.0.0.5 in the basement rack", "the owner's dog is called Biscuit",
         "backups go to the Synology over NFS every night"]


def _config(tmp: Path) -> Path:
    (tmp / "policy.toml").write_text(POLICY)
    cfg = tmp / "config.toml"
    cfg.write_text(
        f'[policy]\nfile = "{tmp / "policy.toml"}"\n\n[memory.embed]\nbackend = "hashing"\n\n'
        f'[backup]\ndestination = "{tmp / "backups"}"\n\n'
        # no briefing or nightly backup at start (their grace windows would make the test depend on the clock),
        # no health sweeps (each is a new task: the task lists before and after would differ by the clock)
        '[tasks.scheduler]\nbuiltin_jobs = ["overnight"]\n'
    )
    return cfg


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("drill")
    env = daemon_env(HYDRA_CONFIG=str(_config(tmp)))
    d = DaemonProc("drill", tmp / "state", env)
    box: dict[str, Any] = {"tmp": tmp, "env": env, "daemon": d}
    try:
        yield box
    finally:
        d.stop()


def hydra(d: DaemonProc, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**d.env, "HYDRA_NODE__STATE_DIR": str(d.state_dir), "HYDRA_NODE__ID": d.node_id}
    res = subprocess.run([sys.executable, "-m", "hydra_os", *args], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=300)
    if check:
        assert res.returncode == 0, f"hydra {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    return res


def _memory_up(d: DaemonProc) -> bool:
    with d.client() as c:
        return c.post("/v1/memory/context", json={"query": "ping"}).status_code == 200


def _task_done(d: DaemonProc, task_id: str) -> bool:
    with d.client() as c:
        return bool(c.get(f"/v1/tasks/{task_id}").json()["task"]["state"] == "succeeded")


def snapshot_of(d: DaemonProc) -> dict[str, Any]:
    """What the owner sees: search answers, core blocks, learnings, tasks, schedules, approvals."""
    with d.client() as c:
        search = {q: [h["passage"]["text"] for h in c.get("/v1/memory/search", params={"q": q, "limit": 3}).json()]
                  for q in ("where is the NAS", "dog name", "backups")}
        tasks = sorted((t["id"], t["kind"], t["state"], json.dumps(t.get("result"), sort_keys=True))
                       for t in c.get("/v1/tasks", params={"all": "true"}).json())
        stored = c.get("/v1/schedule/stored").json()
        approvals = sorted((a["id"], a["state"], a["action"]["kind"]) for a in c.get("/v1/approvals").json())
    core = json.loads(hydra(d, "memory", "core", "show", "--json").stdout)
    learnings = hydra(d, "memory", "learnings", "list").stdout
    return {"search": search, "tasks": tasks, "schedule": stored, "approvals": approvals, "core": core,
            "learnings": learnings}


def test_backup_delete_restore_compare(drill: dict[str, Any]) -> None:
    d: DaemonProc = drill["daemon"]
    d.start(timeout=60)
    wait_for(lambda: _memory_up(d), 90, what="memory served")
    assert httpx.post(d.api_url + "/v1/backups", json={}).status_code == 401  # behind the API token
    with d.client() as c:
        for f in FACTS:
            assert c.post("/v1/memory/remember", json={"text": f, "source": "drill"}).status_code == 200
        task_ids = [c.post("/v1/tasks", json={"kind": "diag.echo", "params": {"n": i}}).json()["task"]["id"]
                    for i in range(3)]
        r = c.post("/v1/schedule", json={"id": "weekly-digest", "kind": "diag.echo", "cron": "0 9 * * mon"})
        assert r.status_code == 201, r.text
        r = c.post("/v1/requests", json={"text": "restart ollama"})
        assert r.json()["status"] == "pending-approval", r.text
    hydra(d, "memory", "core", "edit", "owner", "--append", "prefers dark mode")
    hydra(d, "memory", "core", "edit", "owner", "--replace", "dark mode", "--with", "dark mode everywhere")
    hydra(d, "memory", "learnings", "add", "--context", "drill", "--learning", "restic needs a password file")
    with d.client() as c:  # the nightly job's path: a backup.run task on the worker, through the gate
        task_ids.append(c.post("/v1/tasks", json={"kind": "backup.run"}).json()["task"]["id"])
    for t in task_ids:
        wait_for(lambda t=t: _task_done(d, t), 120, what=f"task {t} done")
    with d.client() as c:
        nightly = c.get(f"/v1/tasks/{task_ids[-1]}").json()["task"]["result"]
    assert nightly["status"] == "succeeded" and nightly["backup"]["name"].startswith("hydra-backup-drill-")
    before = snapshot_of(d)
    assert FACTS[0] in before["search"]["where is the NAS"] and len(before["tasks"]) >= 3 and before["approvals"]
    assert "dark mode everywhere" in json.dumps(before["core"]) and "restic needs" in before["learnings"]

    out = hydra(d, "backup", "now", "--json")
    body = json.loads(out.stdout)
    assert body["status"] == "succeeded" and body["decision"]["rule_id"] == "auto-backup", body
    name = body["backup"]["name"]
    archive = drill["tmp"] / "backups" / name
    manifest = read_manifest(archive)
    assert manifest.node == "drill" and manifest.counts["memory:passage"] >= len(FACTS)
    assert {"HYDRA_EVENTS", "KV_hydra_tasks", "KV_hydra_approvals", "KV_hydra_schedule"} <= set(manifest.order)
    assert manifest.order.index("HYDRA_EVENTS") < manifest.order.index("KV_hydra_tasks")
    assert body["backup"]["pruned"] == [nightly["backup"]["name"]]  # same day: retention keeps the newest
    listed = json.loads(hydra(d, "backup", "list", "--json").stdout)
    assert [b["name"] for b in listed["backups"]] == [name] and listed["last"]["last_ok_name"] == name
    hydra(d, "audit", "verify")  # the live chain verifies before the backup too

    assert d.stop() == 0
    shutil.rmtree(d.state_dir)
    verified = json.loads(hydra(d, "backup", "verify", name, "--json").stdout)
    assert verified["ok"] and verified["audit"]["drill"]["events"] > 0, verified
    restored = json.loads(hydra(d, "backup", "restore", name, "--json").stdout)
    assert restored["memory"]["passage"] == manifest.counts["memory:passage"]

    d.start(timeout=60)
    wait_for(lambda: _memory_up(d), 90, what="memory served after the restore")
    after = snapshot_of(d)
    assert after == before
    audit = hydra(d, "audit", "verify", check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    drill["archive"] = archive


def test_verify_catches_a_flipped_byte(drill: dict[str, Any], tmp_path: Path) -> None:
    d: DaemonProc = drill["daemon"]
    archive: Path = drill["archive"]
    damaged = tmp_path / archive.name
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    damaged.write_bytes(bytes(raw))
    res = hydra(d, "backup", "verify", str(damaged), check=False)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "damaged" in res.stderr or "checksum" in res.stderr, res.stderr


def test_restore_refuses_a_non_empty_target(drill: dict[str, Any], tmp_path: Path) -> None:
    d: DaemonProc = drill["daemon"]
    target = tmp_path / "busy"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    res = hydra(d, "backup", "restore", str(drill["archive"]), "--target", str(target), check=False)
    assert res.returncode == 2 and "not empty" in res.stderr, res.stderr
    assert sorted(p.name for p in target.iterdir()) == ["precious.txt"]  # nothing written
    done = json.loads(hydra(d, "backup", "restore", str(drill["archive"]), "--target", str(target), "--force",
                            "--json").stdout)
    aside = Path(done["moved_aside"])
    assert (aside / "precious.txt").read_text() == "keep me"  # moved aside, never deleted
    assert (target / "nats").is_dir()
