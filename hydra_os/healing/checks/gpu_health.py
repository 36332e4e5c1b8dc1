"""GPU overheating or reporting errors (NVML): temperature, uncorrected ECC errors, HW slowdown."""

from __future__ import annotations

import asyncio

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.gpu_health import GpuHealth
from hydra_os.healing.model import CheckReport, Issue, Severity
from hydra_os.healing.target import Target


def evaluate(gpus: list[GpuHealth], max_temp_c: int) -> list[tuple[GpuHealth, list[str], Severity]]:
    """Per GPU with a problem: the problems and how bad."""
    out = []
    for g in gpus:
        problems: list[str] = []
        severity = Severity.WARNING
        if g.error:
            problems.append(g.error)
        if g.temperature_c is not None and g.temperature_c >= max_temp_c:
            problems.append(f"{g.temperature_c} C (limit {max_temp_c} C)")
            severity = Severity.CRITICAL
        if g.ecc_uncorrected:
            problems.append(f"{g.ecc_uncorrected} uncorrected ECC errors")
            severity = Severity.CRITICAL
        if any(t in g.throttle for t in ("hw_slowdown", "hw_thermal", "hw_power_brake")):
            problems.append("hardware slowdown: " + ", ".join(g.throttle))
        if problems:
            out.append((g, problems, severity))
    return out


class GpuHealthCheck:
    name = "gpu_health"
    issues = (IssueType.GPU_UNHEALTHY,)

    def enabled(self, ctx: HealingContext) -> bool:
        return ctx.gpu is not None and ctx.gpu.available

    async def run(self, ctx: HealingContext) -> CheckReport:
        assert ctx.gpu is not None
        gpus = await asyncio.to_thread(ctx.gpu.read_health)
        report = CheckReport(check=self.name, checked=[Target(TargetKind.GPU, str(g.index)) for g in gpus])
        for g, problems, severity in evaluate(gpus, ctx.config.gpu_max_temp_c):
            report.issues.append(Issue(
                type=IssueType.GPU_UNHEALTHY, check=self.name, target=Target(TargetKind.GPU, str(g.index)),
                severity=severity,
                summary=f"GPU {g.index} ({g.name}): " + "; ".join(problems),
                details=g,
            ))
        return report


CHECK = GpuHealthCheck
