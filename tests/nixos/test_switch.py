"""The safe switch end to end through the stand-in executables (build, test, gate, boot, rollback)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hydra_os.nixos.errors import NixosError, RevisionRefused
from hydra_os.nixos.generations import list_generations
from hydra_os.nixos.ledger import FailedRevisions
from hydra_os.nixos.switch import SafeSwitch
from hydra_os.notify import LogFileNotifier
from tests.standins.nixsim import NixSim


def make(nixsim: NixSim, tmp_path: Path, **kw: object) -> tuple[SafeSwitch, LogFileNotifier]:
    notifier = LogFileNotifier(tmp_path / "notes.log")
    sw = SafeSwitch(nixsim.config(), FailedRevisions(tmp_path / "failed.json"), tmp_path / "work",
                    notifier=notifier, node_id="n1", **kw)  # type: ignore[arg-type]
    return sw, notifier


async def test_good_switch_sets_profile_and_boot(nixsim: NixSim, tmp_path: Path) -> None:
    first = nixsim.current()
    sw, notes = make(nixsim, tmp_path)
    nixsim.describe("rev-2")
    out = await sw.switch()
    assert out.status == "switched" and out.ok
    assert out.revision == "rev-2" and out.previous == first
    assert nixsim.current() == out.toplevel != first
    assert nixsim.boot_default() == out.toplevel
    gens = await list_generations(sw.cfg)
    assert [(g.number, g.current) for g in gens] == [(1, False), (2, True)]
    assert [s.name for s in out.steps] == ["build", "revision", "test", "set-profile", "boot"]
    assert notes.read() == []


async def test_failed_units_roll_back_record_and_inform(nixsim: NixSim, tmp_path: Path) -> None:
    first = nixsim.current()
    sw, notes = make(nixsim, tmp_path)
    nixsim.describe("rev-bad", failed_units=["hydra-vllm.service"])
    out = await sw.switch()
    assert out.status == "rolled_back" and not out.ok
    assert "exited 4" in out.problems[0]
    assert nixsim.current() == first  # the old system runs again
    assert nixsim.boot_default() is None  # bootloader never touched
    assert [g.number for g in await list_generations(sw.cfg)] == [1]  # profile never touched
    unit = json.loads((nixsim.systemctl_dir / "units/hydra-vllm.service.json").read_text())
    assert unit["ActiveState"] == "active"  # re-activation brought the unit back
    assert sw.ledger.find("rev-bad") is not None
    [note] = notes.read()
    assert "rolled back" in note.title and note.data["revision"] == "rev-bad"
    # the same revision is not tried again
    with pytest.raises(RevisionRefused, match="rev-bad"):
        await sw.switch()
    assert nixsim.current() == first


async def test_hydra_gate_check_failure_rolls_back(nixsim: NixSim, tmp_path: Path) -> None:
    first = nixsim.current()
    seen: list[str] = []

    async def hydra_check() -> list[str]:
        seen.append(nixsim.current())
        return ["model endpoint fast did not answer"]

    sw, _ = make(nixsim, tmp_path, gate_checks=[hydra_check])
    nixsim.describe("rev-3")
    out = await sw.switch()
    assert out.status == "rolled_back"
    assert seen and seen[0] != first  # the gate ran while the new system was active
    assert out.problems == ["model endpoint fast did not answer"]
    assert nixsim.current() == first


async def test_force_retries_a_failed_revision(nixsim: NixSim, tmp_path: Path) -> None:
    sw, _ = make(nixsim, tmp_path)
    nixsim.describe("rev-x", failed_units=["a.service"])
    assert (await sw.switch()).status == "rolled_back"
    out = await sw.switch(force=True)
    assert out.status == "rolled_back"  # still bad, but it was tried


async def test_build_failure_is_an_error_and_changes_nothing(nixsim: NixSim, tmp_path: Path) -> None:
    first = nixsim.current()
    sw, _ = make(nixsim, tmp_path)
    nixsim.describe("rev-b", build_fails=True)
    with pytest.raises(NixosError, match="build failed"):
        await sw.switch()
    assert nixsim.current() == first


async def test_dry_run_prints_plan_and_runs_nothing(nixsim: NixSim, tmp_path: Path) -> None:
    sw, _ = make(nixsim, tmp_path)
    before = len(nixsim.calls())
    out = await sw.switch(dry_run=True)
    assert out.status == "dry_run"
    names = [s.name for s in out.plan]
    assert names == ["build", "revision", "test", "gate", "set-profile", "boot", "rollback"]
    assert out.plan[0].argv[:2] == [sw.cfg.nixos_rebuild, "build"]
    assert len(nixsim.calls()) == before


async def test_unchanged_when_already_running(nixsim: NixSim, tmp_path: Path) -> None:
    sw, _ = make(nixsim, tmp_path)
    nixsim.describe("rev-good")  # same description as generation 1: same store path
    out = await sw.switch()
    assert out.status == "unchanged"


async def test_rollback_goes_back_one_generation(nixsim: NixSim, tmp_path: Path) -> None:
    first = nixsim.current()
    sw, _ = make(nixsim, tmp_path)
    nixsim.describe("rev-2")
    await sw.switch()
    out = await sw.rollback()
    assert out.ok and out.toplevel == first
    assert nixsim.current() == first and nixsim.boot_default() == first
    gens = await list_generations(sw.cfg)
    assert [(g.number, g.current) for g in gens] == [(1, True), (2, False)]
    with pytest.raises(NixosError, match="no generation older"):
        await sw.rollback()
