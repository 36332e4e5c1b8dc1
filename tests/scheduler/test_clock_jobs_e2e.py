"""Test daemons leave the clock-driven built-in jobs out unless a test asks for them.

The briefing and the nightly backup fire at a daemon's start when it starts inside their 6 h grace
window, so a suite run at the wrong hour saw extra tasks and notifications in tests that count them.
These tests put both windows at "a minute ago" whatever the clock says, so they do not depend on it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DaemonProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e


def _config(tmp: Path, scheduler: str = "") -> Path:
    """Briefing, overnight window, memory upkeep and backup all due one minute ago (inside their grace)."""
    ago = datetime.now(UTC) - timedelta(minutes=1)
    wake = (ago + timedelta(minutes=15)).strftime("%H:%M")  # the briefing starts 15 min before wake time
    cfg = tmp / "config.toml"
    cfg.write_text(f'[owner]\ntimezone = "UTC"\nwake_time = "{wake}"\novernight_start = "{ago:%H:%M}"\n'
                   f'[backup]\nat = "{ago:%H:%M}"\n[tasks.scheduler]\n{scheduler}')
    return cfg


def _env(cfg: Path) -> dict[str, str]:
    return daemon_env(HYDRA_CONFIG=str(cfg), HYDRA_NODE__ROLES="scheduler,worker,gateway")  # no memory: quicker


def _jobs(d: DaemonProc) -> dict[str, Any]:
    with d.client() as c:
        r = c.get("/v1/schedule")
    assert r.status_code == 200, r.text
    return {j["id"]: j for j in r.json()["jobs"]}


def _fired(d: DaemonProc, job: str) -> bool:
    return bool((_jobs(d).get(job) or {}).get("last"))


def test_a_daemon_started_inside_the_briefing_and_backup_windows_fires_neither_unless_asked(tmp_path: Path) -> None:
    d = DaemonProc("clk", tmp_path / "clk", _env(_config(tmp_path))).start()
    try:
        wait_for(lambda: _fired(d, "health"), 30, what="the health loop's first slot")  # the leader has run
        assert set(_jobs(d)) == {"health"}
        with d.client() as c:
            keys = [t["idempotency_key"] or "" for t in c.get("/v1/tasks", params={"all": True}).json()]
        assert not [k for k in keys if k.startswith(("sched:briefing:", "sched:backup:"))], keys
    finally:
        d.stop()


def test_a_test_that_names_builtin_jobs_in_its_toml_gets_them_and_they_fire_in_their_window(
        tmp_path: Path) -> None:
    cfg = _config(tmp_path, 'builtin_jobs = ["briefing", "backup"]\n')
    d = DaemonProc("clk2", tmp_path / "clk2", _env(cfg)).start()
    try:
        wait_for(lambda: _fired(d, "briefing") and _fired(d, "backup"), 30, what="both jobs fire at start")
        assert set(_jobs(d)) == {"briefing", "backup"}
    finally:
        d.stop()


def test_a_test_can_ask_the_helper_for_builtin_jobs(tmp_path: Path) -> None:
    d = DaemonProc("clk3", tmp_path / "clk3", _env(_config(tmp_path)),
                   builtin_jobs=("health", "briefing")).start()
    try:
        wait_for(lambda: _fired(d, "briefing"), 30, what="the briefing fires at start")
    finally:
        d.stop()
