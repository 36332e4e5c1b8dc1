"""A full disk refuses archival writes (memory read-only) instead of killing the daemon with SIGBUS.

On a real small tmpfs (mounted here; needs root, else skipped with the reason): qdrant-edge writes
through memory maps, so without the free-space margin a full filesystem is a SIGBUS (shown as the
control), at a write and again at every start while the disk stays full.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, DaemonProc, daemon_env

MIB = 1024 * 1024


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the full-disk scenario cannot be created here")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192m", "tmpfs", str(mnt)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); the full-disk scenario needs one")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _proc(root: Path, min_free_mb: int, *args: str) -> tuple[int, dict[str, Any]]:
    r = subprocess.run([sys.executable, "-m", "tests.memory.disk_proc", str(root), str(min_free_mb), *args],
                       cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    return r.returncode, (json.loads(lines[-1]) if lines else {"stderr": r.stderr[-2000:]})


def test_writes_are_refused_below_the_margin_and_reads_go_on(small_fs: Path) -> None:
    root = small_fs / "archival"
    rc, out = _proc(root, 64, "fill-add", "32")  # a batch, then the disk fills to 32 MiB free, then a batch
    assert rc == 0, out
    assert out["type"] == "MemoryDiskSpaceError" and "memory.archival.min_free_mb" in out["error"]
    assert out["added"] == out["count"] == 100 and out["search_hits"] == 3  # read-only, not dead

    rc, again = _proc(root, 64, "open")  # a start on the full disk: refused with a line, not a SIGBUS
    assert rc == 0, again
    assert again["type"] == "MemoryDiskSpaceError" and str(root) in again["open_error"]

    (small_fs / "filler").unlink()  # space is freed: the next start opens the store with everything in it
    rc, after = _proc(root, 64, "open")
    assert rc == 0 and after["count"] == 100, after


def test_control_without_the_margin_a_full_disk_is_a_sigbus(small_fs: Path) -> None:
    """What the margin prevents (the defect as found): margin 0, the same filesystem filled up."""
    rc, out = _proc(small_fs / "archival", 0, "fill-add", "0")
    assert rc == -7, (rc, out)  # SIGBUS


def test_graph_writes_are_refused_below_the_margin_and_the_graph_still_opens(small_fs: Path) -> None:
    rc, out = _proc(small_fs, 32, "graph-fill-add", "16")
    assert rc == 0, out  # closed normally (no abort)
    assert out["type"] == "MemoryDiskSpaceError" and "memory.graph.min_free_mb" in out["error"]
    assert out["entities"] == 1
    (small_fs / "filler").unlink()
    rc, after = _proc(small_fs, 32, "graph-open")
    assert rc == 0 and after == {"entities": 1}, after


def test_control_without_the_margin_a_full_disk_damages_the_graph(small_fs: Path) -> None:
    """What the margin prevents: the write fails, Ladybug aborts the process at close, and after space
    is freed the graph does not open (its WAL is torn)."""
    rc, out = _proc(small_fs, 0, "graph-fill-add", "0")
    assert rc != 0, out
    (small_fs / "filler").unlink()
    rc, after = _proc(small_fs, 0, "graph-open")
    assert "open_error" in after and "WAL" in after["open_error"], after


def test_the_daemon_prints_every_stack_on_a_fatal_signal(tmp_path: Path) -> None:
    """``hydra run`` enables faulthandler: a SIGBUS (what a full disk under a memory map raises) is logged."""
    d = DaemonProc("fh", tmp_path / "fh", daemon_env(HYDRA_NODE__ROLES="worker")).start(timeout=60)
    try:
        assert d.proc is not None
        os.kill(d.proc.pid, signal.SIGBUS)
        d.proc.wait(30)
    finally:
        d.stop()
    assert d.proc.returncode == -signal.SIGBUS
    log = d.logs()
    assert "Fatal Python error: Bus error" in log and "Current thread" in log


async def test_a_learnings_append_on_a_full_disk_fails_whole_and_leaves_no_torn_line(small_fs: Path) -> None:
    from memory.errors import MemoryBackendError
    from memory.learnings import LearningsLog
    from memory.protocols import LearningIn

    log_path = small_fs / "learnings.jsonl"
    log = await LearningsLog(log_path).open()
    await log.add(LearningIn(context="c", learning="first"))
    size = log_path.stat().st_size
    filler = small_fs / "filler"
    with filler.open("wb", buffering=0) as f:  # fill up, leaving a couple of pages: the next big write is cut short
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    filler_size = filler.stat().st_size
    os.truncate(filler, filler_size - 8192)
    with pytest.raises(MemoryBackendError, match="cannot append"):
        await log.add(LearningIn(context="c", learning="x" * 200_000))
    assert log_path.stat().st_size == size  # cut back: no torn line
    filler.unlink()
    await log.add(LearningIn(context="c", learning="after"))
    reopened = await LearningsLog(log_path).open()
    assert [e.learning for e in await reopened.list_learnings()] == ["first", "after"]
