from __future__ import annotations

from pathlib import Path

import pytest

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.errors import FixupError
from hydra_os.healing.fixups.restart_unit import RestartUnit
from hydra_os.healing.model import Issue
from hydra_os.healing.systemctl import UnitState
from hydra_os.healing.target import Target
from hydra_os.sections.healing import HealingConfig
from tests.healing.conftest import SYSTEMCTL, set_unit, unit_state


def issue(unit: str, active: str = "failed") -> Issue:
    return Issue(type=IssueType.UNIT_FAILED, check="systemd_unit", target=Target(TargetKind.UNIT, unit), summary="x",
                 details=UnitState(unit=unit, active=active, sub="x", result="x", n_restarts=0, load="loaded"))


async def test_restart_runs_systemctl_and_confirms(tmp_path: Path, systemd: Path) -> None:
    set_unit(systemd, "ollama.service", ActiveState="failed", SubState="failed", Result="exit-code")
    ctx = HealingContext(HealingConfig(systemctl=SYSTEMCTL), "n1", tmp_path)
    fx = RestartUnit()
    assert fx.applies_to(issue("ollama.service"), ctx)
    assert not fx.applies_to(issue("ollama.service", active="inactive"), ctx)
    action = fx.action(issue("ollama.service"), ctx)
    assert action.kind == "unit.restart" and action.target == "unit:ollama.service"
    result = await fx.execute(action, ctx)
    assert result["ActiveState"] == "active"
    assert unit_state(systemd, "ollama.service")["restarts_by_hand"] == 1
    assert '"restart", "--", "ollama.service"' in (systemd / "calls.log").read_text()


async def test_failing_restart_raises_with_systemctl_message(tmp_path: Path, systemd: Path) -> None:
    set_unit(systemd, "db.service", ActiveState="failed", SubState="failed", restart_fails=True)
    ctx = HealingContext(HealingConfig(systemctl=SYSTEMCTL), "n1", tmp_path)
    fx = RestartUnit()
    with pytest.raises(FixupError, match=r"journalctl -xeu db\.service"):
        await fx.execute(fx.action(issue("db.service"), ctx), ctx)
