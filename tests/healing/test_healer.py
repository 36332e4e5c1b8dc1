"""The healer end to end: real PolicyGate on a real nats-server, stand-in systemctl, real children."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.policy.guards.maintenance import AdhocWindow
from hydra_os.policy.model import OutcomeStatus
from hydra_os.sections.healing import HealingConfig
from tests.healing.conftest import SYSTEMCTL, make_gate, set_unit, unit_state


def notes(tmp_path: Path) -> list[dict[str, Any]]:
    p = tmp_path / "notes.log"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


async def test_failed_unit_restarted_autonomously_and_resolved(tmp_path: Path, systemd: Path, gate: Any,
                                                              make_healer: Any) -> None:
    set_unit(systemd, "ollama.service", ActiveState="failed", SubState="failed", Result="exit-code")
    healer = make_healer(gate, HealingConfig(units=["ollama.service"], systemctl=SYSTEMCTL))
    healer.register()
    [inc] = await healer.run_once()
    assert inc.root == "unit:ollama.service" and inc.status == "open"
    [act] = inc.actions
    assert act.kind == "unit.restart" and act.level == "AUTONOMOUS" and act.status == "succeeded"
    assert act.rule_id == "auto-restart"
    assert unit_state(systemd, "ollama.service")["ActiveState"] == "active"
    await healer.run_once()
    assert inc.status == "resolved" and inc.outcome == "healed by restart_unit"
    assert notes(tmp_path) == []  # AUTONOMOUS: nobody is bothered
    assert (tmp_path / "incidents.json").exists()


async def test_restart_that_fails_escalates_once(tmp_path: Path, systemd: Path, bus: Bus,
                                                 make_healer: Any) -> None:
    now = [1000.0]
    gate = await make_gate(bus, clock=lambda: now[0], max_attempts=2, backoff_base=1.0)
    set_unit(systemd, "db.service", ActiveState="failed", SubState="failed", Result="exit-code",
             restart_fails=True)
    healer = make_healer(gate, HealingConfig(units=["db.service"], systemctl=SYSTEMCTL),
                         clock=lambda: now[0])
    healer.register()
    statuses = []
    for _ in range(8):
        [inc] = await healer.run_once()
        statuses.append(inc.actions[-1].status if inc.actions else None)
        now[0] += 5
    assert statuses.count("failed") == 2  # max_attempts, then the gate degrades to ASK_FIRST
    assert inc.escalated and inc.actions[-1].status == OutcomeStatus.PENDING.value
    assert inc.actions[-1].guard == "attempts"
    assert len(inc.actions) == 3  # pending is not resubmitted every round
    [note] = notes(tmp_path)
    assert "Approval needed" in note["title"] and note["data"]["approval_id"]
    assert unit_state(systemd, "db.service").get("restarts_by_hand", 0) == 0  # every restart failed


async def test_maintenance_window_suppresses(tmp_path: Path, systemd: Path, gate: Any, make_healer: Any) -> None:
    import time

    gate.schedule.put(AdhocWindow(id="m1", start=time.time(), until=time.time() + 600, targets=["*"], reason="upgrade"))
    set_unit(systemd, "a.service", ActiveState="failed", SubState="failed", Result="exit-code")
    healer = make_healer(gate, HealingConfig(units=["a.service"], systemctl=SYSTEMCTL))
    healer.register()
    [inc] = await healer.run_once()
    assert inc.suppressed and inc.actions == []
    assert unit_state(systemd, "a.service")["ActiveState"] == "failed"
    assert notes(tmp_path) == []


async def test_one_incident_per_root_cause(tmp_path: Path, systemd: Path, gate: Any, make_healer: Any) -> None:
    for u in ("ollama.service", "open-webui.service", "searxng.service"):
        set_unit(systemd, u, ActiveState="failed", SubState="failed", Result="exit-code")
    cfg = HealingConfig(
        units=["ollama.service", "open-webui.service", "searxng.service"], systemctl=SYSTEMCTL,
        dependencies={"unit:open-webui.service": ["unit:ollama.service"],
                      "unit:searxng.service": ["unit:ollama.service"]},
    )
    healer = make_healer(gate, cfg)
    healer.register()
    [inc] = await healer.run_once()
    assert inc.root == "unit:ollama.service"
    assert inc.dependents == ["unit:open-webui.service", "unit:searxng.service"]
    assert [a.target for a in inc.actions] == ["unit:ollama.service"]


async def test_inform_after_goes_to_the_notifier(tmp_path: Path, gate: Any, make_healer: Any) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "old.bin").write_bytes(b"x" * 1000)
    # a floor no real disk meets: the check fires, the fixup empties the cache, still not enough
    cfg = HealingConfig(disks=[{"path": tmp_path, "min_free_pct": 100.0}], cache_dirs=[cache])
    healer = make_healer(gate, cfg)
    healer.register()
    [inc] = await healer.run_once()
    [act] = inc.actions
    assert act.kind == "disk.free_cache" and act.level == "INFORM_AFTER"
    assert act.status == "failed" and "still has only" in (act.error or "")
    assert not (cache / "old.bin").exists() and cache.is_dir()
    [note] = notes(tmp_path)
    assert "tried and failed" in note["title"] and note["data"]["level"] == "INFORM_AFTER"
