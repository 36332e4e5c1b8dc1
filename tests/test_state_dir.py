"""The state dir holds secrets and stores: the daemon never leaves it open to other users."""

from __future__ import annotations

from pathlib import Path

import pytest
from loguru import logger

from hydra_os.daemon import prepare_state_dir


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o701])
def test_an_existing_open_state_dir_is_tightened_and_logged(tmp_path: Path, mode: int) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(mode)
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}")
    try:
        prepare_state_dir(state)
    finally:
        logger.remove(sink)
    assert state.stat().st_mode & 0o777 == 0o700
    assert any(f"had mode {mode:04o}; tightened it to 0700" in ln for ln in lines), lines


def test_a_new_state_dir_is_0700_and_a_closed_one_is_left_alone(tmp_path: Path) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}")
    try:
        prepare_state_dir(tmp_path / "new")
        prepare_state_dir(tmp_path / "new")
    finally:
        logger.remove(sink)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert not any("tightened" in ln for ln in lines)
