"""The NixOS rollback fixup through the stand-in nix-env and switch-to-configuration."""
from __future__ import annotations

from pathlib import Path

import pytest

from hydra_os.healing.config import HealingConfig
from hydra_os.healing.context import HealingContext
from hydra_os.healing.fixups.nixos_rollback import NixosRollback
from hydra_os.healing.model import Issue, Severity
from hydra_os.nixos.ledger import FailedRevisions
from hydra_os.nixos.switch import SafeSwitch
from tests.standins.nixsim import NixSim


@pytest.fixture
def nixsim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NixSim:
    sim = NixSim(tmp_path / "sim")
    for k, v in sim.env().items():
        monkeypatch.setenv(k, v)
    sim.install_first()
    return sim


async def test_rolls_back_a_switch_since_boot(tmp_path: Path, nixsim: NixSim) -> None:
    booted = nixsim.current()
    cfg = HealingConfig(nixos=nixsim.config(), nixos_rollback_on_failure=True)
    ctx = HealingContext(cfg, "n1", tmp_path)
    issue = Issue(check="http_endpoint", target="http:webui", summary="webui down", severity=Severity.CRITICAL)
    fx = NixosRollback()
    assert not fx.applies_to(issue, ctx)  # running system == booted: nothing to roll back
    nixsim.describe("rev-2")
    await SafeSwitch(cfg.nixos, FailedRevisions(tmp_path / "f.json"), tmp_path / "w").switch()
    assert fx.applies_to(issue, ctx)
    assert not fx.applies_to(issue.model_copy(update={"severity": Severity.WARNING}), ctx)
    action = fx.action(issue, ctx)
    assert action.kind == "nixos.rollback" and action.target == "node:n1"
    out = await fx.execute(action, ctx)
    assert out["to"] == booted and nixsim.current() == booted


def test_off_by_default(tmp_path: Path, nixsim: NixSim) -> None:
    ctx = HealingContext(HealingConfig(nixos=nixsim.config()), "n1", tmp_path)
    issue = Issue(check="x", target="y", summary="z")
    assert not NixosRollback().applies_to(issue, ctx)
