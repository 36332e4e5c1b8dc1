"""Backups copied into a real restic repository (local, password from a file) and fetched back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hydra_os.backup.errors import ResticError
from hydra_os.backup.restic import ResticRepo
from hydra_os.backup.take import take_backup
from hydra_os.bus.client import Bus
from hydra_os.config import Settings

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")
SECRET = "correct horse battery staple"


async def test_round_trip_through_restic(bus: Bus, tmp_path: Path) -> None:
    await bus.js.publish("hydra.events.r1", b'{"note": "not an event; only the bytes matter here"}')
    settings = Settings(node={"id": "r1", "state_dir": tmp_path / "state"},  # type: ignore[arg-type]
                        backup={"destination": tmp_path / "out"})  # type: ignore[arg-type]
    taken = await take_backup(settings, bus, None)
    pw = tmp_path / "restic-password"
    pw.write_text(SECRET + "\n")
    repo = ResticRepo(str(tmp_path / "repo"), pw, timeout=120)
    snap = await repo.add(taken.path, "r1")  # initialises the repository on first use
    assert snap and (tmp_path / "repo" / "config").is_file()
    listed = await repo.snapshots()
    assert len(listed) == 1 and listed[0]["id"].startswith(snap) and listed[0]["hostname"] == "r1"
    got = await repo.fetch(snap[:8], tmp_path / "fetched")
    assert got.name == taken.path.name and got.read_bytes() == taken.path.read_bytes()

    wrong = tmp_path / "wrong-password"
    wrong.write_text("not it\n")
    with pytest.raises(ResticError) as err:
        await ResticRepo(str(tmp_path / "repo"), wrong, timeout=60).snapshots()
    assert "not it" not in str(err.value) and SECRET not in str(err.value)


async def test_a_restic_that_outlives_its_timeout_is_a_restic_error(tmp_path: Path) -> None:
    # run_command raises CommandError on a timeout; restic.py caught HealingError (a sibling class that
    # run_command never raises), so a hung restic surfaced as an untranslated CommandError.
    pw = tmp_path / "restic-password"
    pw.write_text(SECRET + "\n")
    with pytest.raises(ResticError) as err:
        await ResticRepo(str(tmp_path / "repo"), pw, timeout=0.001).snapshots()
    assert "did not finish" in str(err.value) and SECRET not in str(err.value)
