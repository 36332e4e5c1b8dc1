"""memory.core.atomic.atomic_write: the one crash-safe write (chain heads, research reports and memory use it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.core.atomic import TMP_SUFFIX, atomic_write


def test_writes_the_whole_content_private(tmp_path: Path) -> None:
    target = tmp_path / "head.json"
    atomic_write(target, b"x" * 1_000_000)
    assert target.read_bytes() == b"x" * 1_000_000
    assert target.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(f".*{TMP_SUFFIX}"))


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # the rename over a directory fails: what a failed write looks like to the caller
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.is_dir()
    assert not list(tmp_path.glob(f".*{TMP_SUFFIX}"))
