"""systemd_unit check through the stand-in systemctl (real `systemctl show` output format)."""
from __future__ import annotations

from pathlib import Path

from hydra_os.healing.checks.systemd_unit import SystemdUnitCheck
from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.healing.model import Severity
from hydra_os.healing.systemctl import UnitState, parse_show
from hydra_os.sections.healing import HealingConfig
from tests.healing.conftest import SYSTEMCTL, set_unit


def ctx(tmp_path: Path, units: list[str]) -> HealingContext:
    return HealingContext(HealingConfig(units=units, systemctl=SYSTEMCTL), "n1", tmp_path)


def test_parse_real_output_any_order() -> None:
    st = parse_show("x.service", "NRestarts=4\nResult=exit-code\nActiveState=failed\nSubState=failed\n"
                                 "LoadState=loaded\n")
    assert st.failed and st.n_restarts == 4 and st.result == "exit-code"


async def test_failed_unit_is_an_issue(tmp_path: Path, systemd: Path) -> None:
    set_unit(systemd, "ollama.service", ActiveState="failed", SubState="failed", Result="exit-code", NRestarts=5)
    set_unit(systemd, "nginx.service")
    rep = await SystemdUnitCheck().run(ctx(tmp_path, ["ollama.service", "nginx.service"]))
    assert [str(t) for t in rep.checked] == ["unit:ollama.service", "unit:nginx.service"]
    [issue] = rep.issues
    assert issue.type is IssueType.UNIT_FAILED
    assert str(issue.target) == "unit:ollama.service" and issue.severity is Severity.CRITICAL
    assert issue.detail(UnitState).n_restarts == 5 and "exit-code" in issue.summary
    assert [str(t) for t in rep.healthy] == ["unit:nginx.service"]
    calls = (systemd / "calls.log").read_text()
    assert '"show", "-p", "ActiveState,SubState,Result,NRestarts,LoadState"' in calls


async def test_missing_unit_is_a_warning(tmp_path: Path, systemd: Path) -> None:
    rep = await SystemdUnitCheck().run(ctx(tmp_path, ["nope.service"]))
    [issue] = rep.issues
    assert issue.type is IssueType.UNIT_MISSING
    assert issue.severity is Severity.WARNING and "does not exist" in issue.summary


def test_disabled_without_units(tmp_path: Path) -> None:
    assert not SystemdUnitCheck().enabled(ctx(tmp_path, []))
