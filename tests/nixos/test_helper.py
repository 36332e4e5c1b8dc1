"""The privileged helper as a program (``python -m hydra_os.nixos.helper``) against the stand-in profile.

It runs as root on a real host, so it is tested from outside: exit codes, what it ran (the stand-ins
log every call) and what it refused to run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hydra_os.nixos.helper import EXIT_OK, EXIT_REFUSED, EXIT_UNITS_FAILED, current_generation
from hydra_os.nixos.ledger import FailedRevisions
from hydra_os.nixos.switch import SafeSwitch
from tests.standins.nixsim import NixSim


@pytest.fixture
def setup(nixsim: NixSim, tmp_path: Path) -> tuple[NixSim, Path, Path]:
    """Generation 1 (booted) and 2 (switched to since), a config file and a result dir."""
    results = tmp_path / "results"
    cfg = nixsim.config_file(tmp_path / "config.toml", results)
    return nixsim, cfg, results


async def second_generation(sim: NixSim, tmp_path: Path, failed_units: list[str] | None = None) -> str:
    sim.describe("rev-2", failed_units)
    out = await SafeSwitch(sim.config(), FailedRevisions(tmp_path / "f.json"), tmp_path / "w",
                           ).switch(force=True)
    assert out.toplevel is not None
    return out.toplevel


def helper(cfg: Path, results: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYDRA_CONFIG": str(cfg), "HYDRA_NIXOS_RESULT_DIR": str(results)}
    return subprocess.run([sys.executable, "-m", "hydra_os.nixos.helper", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def test_rollback_switches_to_an_older_generation(setup: tuple[NixSim, Path, Path], tmp_path: Path) -> None:
    sim, cfg, results = setup
    booted = sim.current()
    await second_generation(sim, tmp_path)
    profile = sim.config().profile
    assert current_generation(profile) == 2 and sim.current() != booted
    p = helper(cfg, results, "rollback-1")
    assert p.returncode == EXIT_OK, p.stderr
    assert current_generation(profile) == 1 and sim.current() == booted and sim.boot_default() == booted
    result = json.loads((results / "rollback-1.json").read_text())
    assert result["ok"] is True and result["generation"] == 1 and result["verb"] == "rollback"
    assert [s["argv"][-2:] for s in result["steps"]] == [["--switch-generation", "1"],
                                                          [f"{booted}/bin/switch-to-configuration", "switch"]]
    assert json.loads(p.stdout) == result  # the same line goes to the journal


async def test_verbs_in_two_argument_form(setup: tuple[NixSim, Path, Path], tmp_path: Path) -> None:
    sim, cfg, results = setup
    booted = sim.current()
    second = await second_generation(sim, tmp_path)
    # test: activates generation 1 now; profile and boot entry stay on 2
    assert helper(cfg, results, "test", "1").returncode == EXIT_OK
    assert sim.current() == booted and current_generation(sim.config().profile) == 2
    assert sim.boot_default() == second
    # boot: profile and boot entry on 1, running system untouched
    assert helper(cfg, results, "switch", "2").returncode == EXIT_OK and sim.current() == second
    assert helper(cfg, results, "boot", "1").returncode == EXIT_OK
    assert sim.boot_default() == booted and sim.current() == second
    assert current_generation(sim.config().profile) == 1


def test_activation_with_failed_units_exits_4(setup: tuple[NixSim, Path, Path]) -> None:
    sim, cfg, results = setup
    sim.add_generation("rev-bad", failed_units=["nginx.service"])
    p = helper(cfg, results, "switch-2")
    assert p.returncode == EXIT_UNITS_FAILED
    assert json.loads((results / "switch-2.json").read_text())["ok"] is False


@pytest.mark.parametrize("args", [
    ["delete-1"], ["gc-1"], ["Rollback-1"], ["rollback"], ["rollback-"], ["rollback--1"], ["rollback-+1"],
    ["rollback-1x"], ["rollback-1;reboot"], ["rollback-1 --flake"], ["rollback-$(id)"], ["../../etc/passwd"],
    ["rollback-1\nswitch-2"], ["rollback-1234567890"], ["rollback", "1", "2"], ["rollback", "-1"],
    ["rollback", "1.0"], ["rollback", "0x1"], ["rollback", " 1"], ["switch", "--rollback"], [""], [],
])
def test_refuses_anything_else(setup: tuple[NixSim, Path, Path], args: list[str]) -> None:
    sim, cfg, results = setup
    before = sim.calls()
    p = helper(cfg, results, *args)
    assert p.returncode == EXIT_REFUSED, (args, p.stdout, p.stderr)
    assert "refused" in p.stderr
    assert sim.calls() == before  # nothing ran
    assert not any(results.glob("*")) or all(f.name.endswith(".json") and "/" not in f.name
                                             for f in results.iterdir())


async def test_refuses_generations_not_in_the_profile(setup: tuple[NixSim, Path, Path], tmp_path: Path) -> None:
    sim, cfg, results = setup
    await second_generation(sim, tmp_path)
    before = sim.calls()
    for args, why in ((["rollback-7"], "not in"), (["switch-0"], "not in"), (["rollback-2"], "not older"),
                      (["test", "99"], "not in")):
        p = helper(cfg, results, *args)
        assert p.returncode == EXIT_REFUSED and why in p.stderr, (args, p.stderr)
    assert sim.calls() == before
    # a generation link that exists but is no system (no switch-to-configuration) is refused too
    profile = sim.config().profile
    (profile.parent / f"{profile.name}-5-link").symlink_to(tmp_path)
    p = helper(cfg, results, "switch-5")
    assert p.returncode == EXIT_REFUSED and "switch-to-configuration" in p.stderr
    assert sim.calls() == before
