"""Child-process helpers shared by everything that runs a subprocess (argument lists only)."""

from __future__ import annotations

import asyncio
import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: ask Linux to SIGTERM the child when the daemon dies, even by ``kill -9``."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def terminate(proc: asyncio.subprocess.Process, grace: float = 5.0) -> int:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Idempotent; returns the exit code."""
    if proc.returncode is not None:
        return proc.returncode
    try:
        proc.terminate()
    except ProcessLookupError:
        pass
    try:
        return await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        return await proc.wait()
