"""A real daemon: POST /v1/requests and `hydra ask` / `hydra briefing` as subprocesses; answers and the
research synthesis go through the node's own gateway (hydra/auto) to the stand-in model."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import REPO, DaemonProc, daemon_env
from tests.standins.sources.chat_model import ChatStandin
from tests.standins.sources.server import SourceServer

pytestmark = pytest.mark.e2e


@pytest.fixture
async def daemon(tmp_path: Path, sources: SourceServer, chat_server: ChatStandin) -> AsyncIterator[DaemonProc]:
    cfg = tmp_path / "hydra.toml"
    cfg.write_text(f"""
[[inference.endpoints]]
url = "{chat_server.base_url}"
model = "standin-chat"
tier = "fast"

[memory.embed]
backend = "hashing"

[intake.research]
searxng_url = "{sources.base}/searxng"
arxiv_url = "{sources.base}/arxiv/api/query"
feeds = ["{sources.base}/feeds/news.rss"]
fetch_timeout_s = 5
""")
    d = DaemonProc("e2e", tmp_path / "state", daemon_env(HYDRA_CONFIG=str(cfg)))
    await asyncio.to_thread(d.start)
    yield d
    await asyncio.to_thread(d.stop)


def hydra(d: DaemonProc, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**d.env, "HYDRA_NODE__STATE_DIR": str(d.state_dir), "HYDRA_NODE__ID": d.node_id}
    return subprocess.run([sys.executable, "-m", "hydra_os", *args], capture_output=True, text=True, env=env,
                          cwd=str(REPO), timeout=60)


async def _post(d: DaemonProc, body: Any, token: bool = True) -> httpx.Response:
    headers = {"Authorization": f"Bearer {d.token}"} if token else {}
    async with httpx.AsyncClient(base_url=d.api_url, headers=headers, timeout=30) as c:
        return await c.post("/v1/requests", json=body)


async def test_requests_over_http_and_the_cli(daemon: DaemonProc, chat_server: ChatStandin) -> None:
    assert (await _post(daemon, {"text": "hi"}, token=False)).status_code == 401
    bad = await _post(daemon, {"text": ""})
    assert bad.status_code == 422 and "text" in bad.text
    bad = await _post(daemon, {"text": "hello", "colour": "red"})
    assert bad.status_code == 422 and "colour" in bad.text
    r = (await _post(daemon, {"text": "what is the capital of France?"})).json()
    assert r["status"] == "answered" and r["answer"] == "Answer: what is the capital of France?"
    assert chat_server.log[-1]["model"] == "standin-chat"  # routed by the gateway from hydra/auto

    out = await asyncio.to_thread(hydra, daemon, "ask", "research the latest ExLlamaV3 developments now")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('Queued research on "latest ExLlamaV3 developments" as task ')
    task_id = out.stdout.split(" as task ", 1)[1].split(",", 1)[0]
    async with httpx.AsyncClient(base_url=daemon.api_url, headers={"Authorization": f"Bearer {daemon.token}"},
                                 timeout=10) as c:
        for _ in range(300):
            task = (await c.get(f"/v1/tasks/{task_id}")).json()["task"]
            if task["state"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.1)
    assert task["state"] == "succeeded", task.get("error")
    assert task["result"]["synthesis"] == "done" and task["result"]["planned_by"] == "model"

    empty = await asyncio.to_thread(hydra, daemon, "ask", "  ")
    assert empty.returncode == 2 and empty.stderr.count("\n") == 1 and "text:" in empty.stderr
    brief = await asyncio.to_thread(hydra, daemon, "briefing", "--since", "1h", "--no-send")
    assert brief.returncode == 0, brief.stderr
    assert "# Briefing for" in brief.stdout and "research: latest ExLlamaV3 developments" in brief.stdout
    assert "Good morning." in brief.stdout  # the model wrote the opening through the gateway
    assert f"written: {daemon.state_dir / 'briefings'}" in brief.stdout.replace("\n", "")
