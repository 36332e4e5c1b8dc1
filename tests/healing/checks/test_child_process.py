from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from hydra_os.healing.checks.child_process import ChildProcessCheck
from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.healing.supervisor import ChildProcess, ChildState, ProcessSupervisor
from hydra_os.sections.healing import ChildSpec, HealingConfig
from tests.helpers import free_port


async def test_dead_child_is_an_issue(tmp_path: Path, child_script: Any) -> None:
    port = free_port()
    sup = ProcessSupervisor(watch_interval=0.05)
    sup.add(ChildProcess(ChildSpec(name="helper", argv=child_script(port),
                                   health_url=f"http://127.0.0.1:{port}/"), tmp_path))
    ctx = HealingContext(HealingConfig(), "n1", tmp_path, supervisor=sup)
    await sup.start()
    try:
        assert (await ChildProcessCheck().run(ctx)).issues == []
        os.kill(sup.state("helper").pid or 0, signal.SIGKILL)
        for _ in range(100):
            if not sup.state("helper").running:
                break
            await asyncio.sleep(0.05)
        [issue] = (await ChildProcessCheck().run(ctx)).issues
        assert issue.type is IssueType.CHILD_DOWN and issue.detail(ChildState).name == "helper"
        assert str(issue.target) == "process:helper" and "is not running" in issue.summary
    finally:
        await sup.stop()
