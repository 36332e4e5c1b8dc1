"""HTTP endpoint down: GET each configured URL; an error, a timeout or an unexpected status is down."""

from __future__ import annotations

import asyncio

import httpx

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import HttpDetails
from hydra_os.healing.model import CheckReport, Issue
from hydra_os.healing.target import Target
from hydra_os.sections.healing import HttpTarget


async def probe(client: httpx.AsyncClient, t: HttpTarget) -> str | None:
    """None when up, else why it is down."""
    try:
        r = await client.get(t.url, timeout=t.timeout_s)
    except httpx.TimeoutException:
        return f"no answer within {t.timeout_s:g}s"
    except httpx.HTTPError as e:
        return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    if r.status_code not in t.expect_status:
        return f"HTTP {r.status_code}"
    return None


class HttpEndpointCheck:
    name = "http_endpoint"
    issues = (IssueType.HTTP_DOWN,)

    def enabled(self, ctx: HealingContext) -> bool:
        return bool(ctx.config.http)

    async def run(self, ctx: HealingContext) -> CheckReport:
        targets = ctx.config.http
        async with httpx.AsyncClient(follow_redirects=False) as client:
            results = await asyncio.gather(*(probe(client, t) for t in targets))
        report = CheckReport(check=self.name, checked=[Target(TargetKind.HTTP, t.name) for t in targets])
        for t, why in zip(targets, results, strict=True):
            if why is not None:
                report.issues.append(Issue(
                    type=IssueType.HTTP_DOWN, check=self.name, target=Target(TargetKind.HTTP, t.name),
                    summary=f"{t.name} ({t.url}) is down: {why}", details=HttpDetails(url=t.url, why=why),
                    depends_on=t.depends_on or ctx.config.dependencies.get(f"http:{t.name}", []),
                ))
        return report


CHECK = HttpEndpointCheck
