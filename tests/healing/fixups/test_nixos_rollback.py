"""The NixOS rollback fixup through the stand-in nix-env and switch-to-configuration."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import DiskDetails, HttpDetails, NodeDetails
from hydra_os.healing.errors import FixupError
from hydra_os.healing.fixups.nixos_rollback import NixosRollback
from hydra_os.healing.gpu_health import GpuHealth
from hydra_os.healing.model import Issue, Severity, repairs
from hydra_os.healing.systemctl import UnitState
from hydra_os.healing.target import Target
from hydra_os.healing.uptime import UptimeLog
from hydra_os.nixos.ledger import FailedRevisions, Rollbacks
from hydra_os.nixos.switch import SafeSwitch
from hydra_os.sections.healing import HealingConfig
from tests.healing.conftest import SYSTEMCTL
from tests.standins.nixsim import NixSim


@pytest.fixture
def nixsim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NixSim:
    sim = NixSim(tmp_path / "sim")
    for k, v in sim.env().items():
        monkeypatch.setenv(k, v)
    sim.install_first()
    return sim


def _ctx(cfg: HealingConfig, tmp_path: Path) -> HealingContext:
    return HealingContext(cfg, "n1", tmp_path / "state", uptime=UptimeLog(tmp_path / "uptime.json"))


def webui_down() -> Issue:
    return Issue(type=IssueType.HTTP_DOWN, check="http_endpoint", target=Target(TargetKind.HTTP, "webui"),
                 summary="webui down", severity=Severity.CRITICAL, details=HttpDetails(url="http://webui/", why="x"))


def _down(ctx: HealingContext, target: str, at: float | None = None) -> None:
    """What the healer's round records for a failing target."""
    assert ctx.uptime is not None
    ctx.uptime.observe(target, False, time.time() if at is None else at)


async def test_rolls_back_a_switch_since_boot(tmp_path: Path, nixsim: NixSim) -> None:
    booted = nixsim.current()
    cfg = HealingConfig(nixos=nixsim.config(), nixos_rollback_on_failure=True)
    ctx = _ctx(cfg, tmp_path)
    issue = webui_down()
    fx = NixosRollback()
    _down(ctx, "http:webui")
    assert not fx.applies_to(issue, ctx)  # running system == booted: nothing to roll back
    nixsim.describe("rev-2")
    await SafeSwitch(cfg.nixos, FailedRevisions(tmp_path / "f.json"), tmp_path / "w").switch()
    assert not fx.applies_to(issue, ctx)  # down since before the switch: not the switch's doing
    ctx.uptime = UptimeLog(tmp_path / "uptime2.json")
    _down(ctx, "http:webui")
    assert fx.applies_to(issue, ctx)  # went down after the switch
    assert not fx.applies_to(issue.model_copy(update={"severity": Severity.WARNING}), ctx)
    others = [  # not something a configuration switch breaks here
        Issue(type=IssueType.NODE_GONE, check="node_reachable", target=Target(TargetKind.NODE, "nb"), summary="x",
              details=NodeDetails(node="nb")),
        Issue(type=IssueType.GPU_UNHEALTHY, check="gpu_health", target=Target(TargetKind.GPU, "0"), summary="x",
              details=GpuHealth(index=0, name="g")),
        Issue(type=IssueType.DISK_LOW, check="disk_space", target=Target(TargetKind.DISK, "/var/lib"), summary="x",
              details=DiskDetails(path="/var/lib", free_bytes=0, total_bytes=1, free_pct=0, min_free_pct=5,
                                  min_free_gb=1)),
    ]
    for other in others:
        _down(ctx, str(other.target))
        assert not repairs(fx, other, ctx), other.target
    assert repairs(fx, issue, ctx)
    action = fx.action(issue, ctx)
    assert action.kind == "nixos.rollback" and action.target == "node:n1"
    out = await fx.execute(action, ctx)
    assert out["to"] == booted and nixsim.current() == booted


def test_can_be_turned_off(tmp_path: Path, nixsim: NixSim) -> None:
    assert HealingConfig().nixos_rollback_on_failure is True  # on by default; the policy level decides
    ctx = HealingContext(HealingConfig(nixos=nixsim.config(), nixos_rollback_on_failure=False), "n1", tmp_path)
    assert not NixosRollback().applies_to(webui_down(), ctx)


async def test_unprivileged_daemon_rolls_back_through_the_helper_unit(tmp_path: Path, nixsim: NixSim) -> None:
    """helper_unit (what the NixOS module sets): the fixup only runs ``systemctl start
    hydra-os-nixos@rollback-<gen>.service``; the helper (the real program, started by the systemctl
    stand-in as systemd would) does the rollback, and its result comes back into the action's result."""
    booted = nixsim.current()
    results = tmp_path / "run-hydra-os-nixos"
    nixsim.install_helper_unit(nixsim.config_file(tmp_path / "config.toml", results), results)
    cfg = HealingConfig(nixos=nixsim.config(helper_unit=True, helper_result_dir=results), systemctl=SYSTEMCTL)
    ctx = _ctx(cfg, tmp_path)
    nixsim.describe("rev-2")
    await SafeSwitch(cfg.nixos, FailedRevisions(tmp_path / "f.json"), tmp_path / "w").switch()
    nixsim.add_generation("rev-3")  # a newer generation that never ran: not the one to go back to
    issue = webui_down()
    _down(ctx, "http:webui")
    fx = NixosRollback()
    assert fx.applies_to(issue, ctx)  # on by default
    calls_before = len(nixsim.calls())
    out = await fx.execute(fx.action(issue, ctx), ctx)
    assert out["via"] == "hydra-os-nixos@rollback-1.service" and out["generation"] == 1  # the booted one
    assert out["to"] == booted and nixsim.current() == booted
    assert out["helper"]["ok"] is True and out["helper"]["verb"] == "rollback"
    starts = [json.loads(x) for x in (nixsim.systemctl_dir / "calls.log").read_text().splitlines()]
    assert ["start", "--", "hydra-os-nixos@rollback-1.service"] in starts
    assert len(nixsim.calls()) > calls_before  # nix-env and switch-to-configuration ran in the helper
    log = Rollbacks(tmp_path / "state" / "nixos" / "rollbacks.json").all()
    assert [(r.ok, r.to_system, r.because) for r in log] == [(True, booted, "http:webui")]


async def test_a_failing_helper_run_fails_the_fixup_and_is_logged(tmp_path: Path, nixsim: NixSim) -> None:
    results = tmp_path / "res"
    nixsim.install_helper_unit(nixsim.config_file(tmp_path / "config.toml", results), results)
    cfg = HealingConfig(nixos=nixsim.config(helper_unit=True, helper_result_dir=results), systemctl=SYSTEMCTL)
    ctx = _ctx(cfg, tmp_path)
    nixsim.describe("rev-2")
    await SafeSwitch(cfg.nixos, FailedRevisions(tmp_path / "f.json"), tmp_path / "w").switch()
    # generation 1's system breaks on activation now (its units fail): the helper exits 4
    nixsim.add_generation("rev-3", failed_units=["nginx.service"])
    issue = Issue(type=IssueType.UNIT_FAILED, check="systemd_unit", target=Target(TargetKind.UNIT, "nginx.service"),
                  summary="nginx down", details=UnitState(unit="nginx.service", active="failed", sub="failed",
                                                          result="exit-code", n_restarts=0, load="loaded"))
    fx = NixosRollback()
    action = fx.action(issue, ctx)
    profile = nixsim.config().profile
    # rev-2 runs, rev-3 is the profile's newest; the rollback goes to the booted generation 1, whose
    # activation we break (its units fail: exit 4, as switch-to-configuration reports it)
    nixsim.break_activation(profile.parent / f"{profile.name}-1-link")
    with pytest.raises(FixupError, match=r"rollback-1\.service: exit-code \(exit 4\)"):
        await fx.execute(action, ctx)
    log = Rollbacks(tmp_path / "state" / "nixos" / "rollbacks.json").all()
    assert [r.ok for r in log] == [False]
