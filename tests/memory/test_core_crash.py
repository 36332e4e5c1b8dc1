"""The native core store survives ``kill -9`` in the middle of a write loop (a real subprocess)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from memory.core.native import NativeCoreMemory
from tests.helpers import REPO


def test_kill9_mid_write_leaves_a_consistent_block(tmp_path: Path) -> None:
    directory = tmp_path / "core"
    last_seen = 0
    for round_, delay in enumerate((0.0, 0.013, 0.029, 0.051)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.memory.core_writer_proc", str(directory)],
            cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        committed = int(proc.stdout.readline())
        assert committed >= last_seen, f"round {round_}: a committed write was lost"
        target = committed + 5 + round_ * 3
        while committed < target:  # let it write for a while, then kill it at an arbitrary moment
            line = proc.stdout.readline()
            assert line, proc.stderr.read().decode() if proc.stderr else "writer died"
            committed = int(line)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        rest = proc.stdout.read().split()
        committed = int(rest[-1]) if rest else committed
        proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()

        n = asyncio.run(_check(directory, committed))
        assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]
        last_seen = n


async def _check(directory: Path, committed: int) -> int:
    core = await NativeCoreMemory(directory).open()  # must open cleanly, no torn file
    block = await core.get_block("big")
    n = int(block.value[:8])
    assert n in (committed, committed + 1), f"value {n} after last committed {committed}"
    assert block.value == f"{n:08d}" + "x" * 40_000
    hist = await core.history("big")
    assert len(hist) == n + 1 and hist[-1].value == block.value
    return n
