"""hydra_os.command: one external command, argument list, bounded; shared by healing and the NixOS layer."""

from __future__ import annotations

import sys

import pytest

from hydra_os.command import CommandError, run_command


async def test_a_result_for_any_exit_code() -> None:
    res = await run_command([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], limit_s=60)
    assert (res.returncode, res.stdout.strip(), res.ok) == (3, "out", False)


async def test_cannot_start_and_too_slow_are_command_errors() -> None:
    with pytest.raises(CommandError, match="cannot run /nonexistent/tool"):
        await run_command(["/nonexistent/tool"])
    with pytest.raises(CommandError, match=r"did not finish within 0\.5s"):
        await run_command([sys.executable, "-c", "import time; time.sleep(30)"], limit_s=0.5)
    with pytest.raises(CommandError, match="empty command"):
        await run_command([])
