"""Model endpoint not answering a one-token completion (OpenAI-compatible ``/completions`` or chat)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import ModelDetails
from hydra_os.healing.model import CheckReport, Issue
from hydra_os.healing.target import Target
from hydra_os.sections.healing import ModelTarget


async def one_token(client: httpx.AsyncClient, m: ModelTarget) -> str | None:
    """None when the endpoint produced a completion, else why not."""
    body: dict[str, Any] = {"model": m.model, "max_tokens": 1, "temperature": 0}
    if m.completions_only:
        url, body["prompt"] = f"{m.base_url}/completions", "Hello"
    else:
        url, body["messages"] = f"{m.base_url}/chat/completions", [{"role": "user", "content": "Hi"}]
    try:
        r = await client.post(url, json=body, timeout=m.timeout_s)
    except httpx.TimeoutException:
        return f"no completion within {m.timeout_s:g}s"
    except httpx.HTTPError as e:
        return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    if not r.is_success:
        return f"HTTP {r.status_code} from {url}"
    try:
        data = r.json()
        choices = data["choices"]
        if not isinstance(choices, list) or not choices:
            return "the answer has no choices"
    except (ValueError, KeyError, TypeError):
        return "the answer is not an OpenAI completion"
    return None


class ModelEndpointCheck:
    name = "model_endpoint"
    issues = (IssueType.MODEL_SILENT,)

    def enabled(self, ctx: HealingContext) -> bool:
        return bool(ctx.config.models)

    async def run(self, ctx: HealingContext) -> CheckReport:
        models = ctx.config.models
        async with httpx.AsyncClient() as client:
            results = await asyncio.gather(*(one_token(client, m) for m in models))
        report = CheckReport(check=self.name, checked=[Target(TargetKind.MODEL, m.name) for m in models])
        for m, why in zip(models, results, strict=True):
            if why is None:
                continue
            target = Target(TargetKind.MODEL, m.name)
            deps = list(m.depends_on or ctx.config.dependencies.get(str(target), []))
            if m.process and (served_by := str(Target(TargetKind.PROCESS, m.process))) not in deps:
                deps.append(served_by)
            report.issues.append(Issue(
                type=IssueType.MODEL_SILENT, check=self.name, target=target, depends_on=deps,
                summary=f"model {m.model} at {m.base_url} does not answer a one-token completion: {why}",
                details=ModelDetails(base_url=m.base_url, model=m.model, why=why, process=m.process),
            ))
        return report


CHECK = ModelEndpointCheck
