from __future__ import annotations

from pathlib import Path

from hydra_os.healing.checks.model_endpoint import ModelEndpointCheck
from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import ModelDetails
from hydra_os.sections.healing import HealingConfig
from tests.healing.httpstub import StubServer


async def test_one_token_completion(tmp_path: Path) -> None:
    with StubServer() as srv:
        cfg = HealingConfig(models=[
            {"name": "fast", "base_url": f"{srv.url}/v1", "model": "gemma", "completions_only": True},
            {"name": "chat", "base_url": f"{srv.url}/v1/", "model": "llama", "process": "vllm"},
        ])
        ctx = HealingContext(cfg, "n1", tmp_path)
        rep = await ModelEndpointCheck().run(ctx)
        assert rep.issues == [] and sorted(str(t) for t in rep.checked) == ["model:chat", "model:fast"]
        bodies = {p: b for _m, p, b in srv.requests}
        assert bodies["/v1/completions"]["max_tokens"] == 1
        assert bodies["/v1/chat/completions"]["messages"][0]["role"] == "user"
        srv.mode = "garbage"
        rep = await ModelEndpointCheck().run(ctx)
        assert {i.detail(ModelDetails).why for i in rep.issues} == {"the answer is not an OpenAI completion"}
        chat = next(i for i in rep.issues if str(i.target) == "model:chat")
        assert "process:vllm" in chat.depends_on


async def test_timeout_is_an_issue(tmp_path: Path) -> None:
    with StubServer() as srv:
        srv.mode = "slow"
        cfg = HealingConfig(models=[{"name": "m", "base_url": f"{srv.url}/v1", "model": "x", "timeout_s": 0.3}])
        [issue] = (await ModelEndpointCheck().run(HealingContext(cfg, "n1", tmp_path))).issues
        assert issue.type is IssueType.MODEL_SILENT
        assert "no completion within 0.3s" in issue.summary
