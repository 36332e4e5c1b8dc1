"""`hydra nixos ...` against the stand-ins (real CLI, real subprocesses)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hydra_os.cli.app import app
from tests.standins.nixsim import NixSim


@pytest.fixture
def env(nixsim: NixSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NixSim:
    cfg = nixsim.config()
    for key, value in {
        "HYDRA_NODE__STATE_DIR": str(tmp_path / "state"),
        "HYDRA_HEALING__NIXOS__PROFILE": str(cfg.profile),
        "HYDRA_HEALING__NIXOS__CURRENT_SYSTEM": str(cfg.current_system),
        "HYDRA_HEALING__NIXOS__BOOTED_SYSTEM": str(cfg.booted_system),
        "HYDRA_HEALING__NIXOS__NIX_ENV": cfg.nix_env,
        "HYDRA_HEALING__NIXOS__NIXOS_REBUILD": cfg.nixos_rebuild,
        "HYDRA_HEALING__NIXOS__FLAKE": cfg.flake or "",
        "HYDRA_HEALING__NIXOS__GATE_SETTLE_S": "0",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HYDRA_CONFIG", raising=False)
    return nixsim


def test_generations_status_switch_and_dry_run(env: NixSim, tmp_path: Path) -> None:
    r = CliRunner()
    out = r.invoke(app, ["nixos", "generations", "--json"])
    assert out.exit_code == 0, out.output
    assert [g["number"] for g in json.loads(out.output)] == [1]
    out = r.invoke(app, ["nixos", "switch", "--dry-run"])
    assert out.exit_code == 0 and "set-profile" in out.output and "nothing was run" in out.output
    env.describe("rev-bad", failed_units=["x.service"])
    out = r.invoke(app, ["nixos", "switch"])
    assert out.exit_code == 1 and "rolled_back" in out.output
    notes = (tmp_path / "state" / "notifications.log").read_text()
    assert "rolled back" in notes
    out = r.invoke(app, ["nixos", "switch"])
    assert out.exit_code == 2 and "failed its health gate before" in out.output
    out = r.invoke(app, ["nixos", "status"])
    assert "failed revision rev-bad" in out.output and "running the booted system" in out.output
