"""GPU check: the evaluation over NVML readings, and the real NVML path where a GPU exists."""
from __future__ import annotations

from pathlib import Path

import pytest

from hydra_os.healing.checks.gpu_health import GpuHealthCheck, evaluate
from hydra_os.healing.context import HealingContext
from hydra_os.healing.gpu_health import GpuHealth, GpuHealthProbe
from hydra_os.healing.model import Severity
from hydra_os.sections.healing import HealingConfig


def test_evaluate_readings() -> None:
    gpus = [
        GpuHealth(index=0, name="A", temperature_c=60, ecc_uncorrected=0),
        GpuHealth(index=1, name="B", temperature_c=91),
        GpuHealth(index=2, name="C", temperature_c=50, ecc_uncorrected=3),
        GpuHealth(index=3, name="D", temperature_c=70, throttle=["hw_slowdown"]),
    ]
    found = {g.index: (problems, sev) for g, problems, sev in evaluate(gpus, 85)}
    assert set(found) == {1, 2, 3}
    assert found[1][1] is Severity.CRITICAL and "91 C" in found[1][0][0]
    assert "3 uncorrected ECC errors" in found[2][0]
    assert found[3][1] is Severity.WARNING


async def test_real_nvml(tmp_path: Path) -> None:
    probe = GpuHealthProbe()
    ctx = HealingContext(HealingConfig(gpu_max_temp_c=120), "n1", tmp_path, gpu=probe)
    if not GpuHealthCheck().enabled(ctx):
        probe.close()
        pytest.skip(f"no NVML on this machine ({probe.error})")
    rep = await GpuHealthCheck().run(ctx)
    probe.close()
    assert rep.checked and all(str(t).startswith("gpu:") for t in rep.checked)
    readings = GpuHealthProbe().read_health()
    assert all(g.temperature_c is not None for g in readings)
