from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import ModelDetails
from hydra_os.healing.errors import FixupError
from hydra_os.healing.fixups.restart_process import RestartProcess
from hydra_os.healing.model import Issue
from hydra_os.healing.supervisor import ChildProcess, ProcessSupervisor
from hydra_os.healing.target import Target
from hydra_os.sections.healing import ChildSpec, HealingConfig
from tests.helpers import free_port


async def test_restarts_a_dead_engine(tmp_path: Path, child_script: Any) -> None:
    port = free_port()
    sup = ProcessSupervisor()
    sup.add(ChildProcess(ChildSpec(name="vllm", kind="engine", argv=child_script(port),
                                   health_url=f"http://127.0.0.1:{port}/"), tmp_path))
    ctx = HealingContext(HealingConfig(), "n1", tmp_path, supervisor=sup)
    await sup.start()
    try:
        pid = sup.state("vllm").pid
        os.kill(pid or 0, signal.SIGKILL)
        fx = RestartProcess()
        dead = Issue(type=IssueType.CHILD_DOWN, check="child_process", target=Target(TargetKind.PROCESS, "vllm"),
                     summary="x", details=sup.state("vllm"))
        model = Issue(type=IssueType.MODEL_SILENT, check="model_endpoint", target=Target(TargetKind.MODEL, "big"),
                      summary="x", details=ModelDetails(base_url="http://x/v1", model="big", why="x", process="vllm"))
        assert fx.applies_to(dead, ctx) and fx.applies_to(model, ctx)
        action = fx.action(model, ctx)
        assert action.kind == "engine.restart" and action.target == "process:vllm"
        out = await fx.execute(action, ctx)
        assert out["restarted"] and out["pid"] != pid and sup.state("vllm").healthy
    finally:
        await sup.stop()


async def test_unknown_child_is_a_fixup_error(tmp_path: Path) -> None:
    ctx = HealingContext(HealingConfig(), "n1", tmp_path, supervisor=ProcessSupervisor())
    from hydra_os.policy.model import Action

    with pytest.raises(FixupError, match="no supervised child"):
        await RestartProcess().execute(Action(kind="process.restart", target="process:x", params={"name": "x"}), ctx)
