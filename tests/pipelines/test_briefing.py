"""The morning briefing on a real bus: tasks finished by a real worker, incident events, a parked approval,
node health from hydra_nodes, a real memory service; delivered to files, an ntfy and a webhook receiver
(the shared stand-in, real HTTP) and a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from hydra_os.backup.status import record_attempt
from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.chat.client import OpenAIChat
from hydra_os.config import Settings
from hydra_os.events import EventLog
from hydra_os.node.gpu import GpuInfo
from hydra_os.node.info import NodeInfo
from hydra_os.policy.approval_links import ApprovalLinks, Verb
from hydra_os.policy.model import Action
from hydra_os.tasks.errors import PermanentTaskError
from hydra_os.tasks.model import TaskSpec
from hydra_os.tasks.registry import TaskContext, TaskRegistry
from hydra_os.tasks.windows import Windows
from memory.protocols import MemoryStack, SearchFilters
from memory.wiring import LocalMemory, client_stack
from pipelines.briefing.pipeline import KIND, BriefingDeps, register
from tests.helpers import free_port
from tests.pipelines.conftest import memory_config
from tests.policy.nodes import start_node
from tests.standins.sources.chat_model import ChatStandin
from tests.tasks.conftest import MakeWorker, done, queue_for, wait_task

RECEIVER = Path(__file__).resolve().parent.parent / "standins" / "notify_receiver.py"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    box = Mailbox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    yield port, box
    ctl.stop()


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    procs, out = [], {}
    for mode in ("ntfy", "webhook"):
        path = tmp_path / f"{mode}.jsonl"
        p = subprocess.Popen([sys.executable, str(RECEIVER), "--out", str(path), "--mode", mode],
                             stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout is not None
        out[mode] = (f"http://127.0.0.1:{p.stdout.readline().strip()}", path)
    yield out
    for p in procs:
        p.terminate()
        p.wait(5)


def _settings(tmp_path: Path, smtp_port: int, rx: dict[str, Any]) -> Settings:
    now = datetime.now(UTC)
    start, end = (now + timedelta(hours=3)).strftime("%H:%M"), (now + timedelta(hours=5)).strftime("%H:%M")
    return Settings(
        node={"id": "n1", "state_dir": tmp_path / "state"},
        owner={"timezone": "UTC", "overnight_start": start, "overnight_end": end, "name": "Sam"},
        intake={"briefing": {
            "deliver": ["file", "ntfy", "webhook", "email"], "ntfy_url": rx["ntfy"][0], "ntfy_topic": "hydra",
            "webhook_url": rx["webhook"][0] + "/hook", "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
            "smtp_security": "none", "email_from": "hydra@home.test", "email_to": ["sam@home.test"],
            "public_url": "http://hydra.home.test:8700"}},
        ui={"public_url": "https://hydra.home.test"},  # the web page's Approve/Deny links under approvals
    )


async def _demo(ctx: TaskContext) -> dict[str, Any]:
    return {"summary": f"Researched {ctx.params['topic']}: 3 sources, report stored."}


async def _fail(ctx: TaskContext) -> None:
    raise PermanentTaskError("the GPU box was unreachable")


async def _seed(bus: Bus, q: Any) -> dict[str, Any]:
    events = EventLog(bus, "n1")
    await events.start()
    await events.publish("healing.incident.opened", {"incident": "inc-1", "summary": "ollama.service failed",
                                                     "check": "systemd_unit", "status": "open", "outcome": None})
    await events.publish("healing.incident.resolved", {"incident": "inc-1", "summary": "ollama.service failed",
                                                       "check": "systemd_unit", "status": "resolved",
                                                       "outcome": "restarted ollama.service (AUTONOMOUS)"})
    kv = await bus.kv(names.NODES_BUCKET)
    info = NodeInfo(id="gpu1", incarnation="x", roles=["gpu", "worker"], version="0.1", api_url=None, pid=1,
                    started_at=time.time(), heartbeat_at=time.time(), uptime_s=5, cpu_count=8, cpu_percent=12.0,
                    load_avg_1m=0.5, mem_total_mb=64000, mem_available_mb=32000,
                    gpus=[GpuInfo(index=0, name="RTX 3090", uuid="u", memory_total_mb=24576, memory_free_mb=2048,
                                  utilization_pct=97, temperature_c=88)])
    await kv.put("gpu1", info.model_dump_json().encode())
    return {"events": events}


async def test_briefing_collects_renders_delivers_and_stores(
        bus: Bus, make_worker: MakeWorker, memory_node: LocalMemory, chat_server: ChatStandin, tmp_path: Path,
        smtp: tuple[int, Mailbox], receivers: dict[str, Any]) -> None:
    s = _settings(tmp_path, smtp[0], receivers)
    chat = OpenAIChat(chat_server.base_url, timeout_s=5, cache_s=0)

    async def memory() -> MemoryStack:
        return await client_stack(bus, memory_config())

    deps = BriefingDeps(settings=s, bus=bus, chat=chat, memory=memory, api_url=lambda: None)
    registry = TaskRegistry()
    registry.register("demo.job", _demo)
    registry.register("demo.fail", _fail)
    register(registry, deps)
    await make_worker(registry, owner=s.owner)
    q = queue_for(bus, owner=s.owner)
    q.windows = Windows(s.owner)
    ok = (await q.enqueue(TaskSpec(kind="demo.job", params={"topic": "ExLlamaV3"}, title="research: ExLlamaV3"))).task
    bad = (await q.enqueue(TaskSpec(kind="demo.fail", title="render sprites"))).task
    tonight = (await q.enqueue(TaskSpec(kind="demo.job", params={"topic": "vLLM"}, window="overnight",
                                        title="research: vLLM"))).task
    for t in (ok, bad):
        await wait_task(q, t.id, done, 15)
    await _seed(bus, q)
    record_attempt(s.node.state_dir, ok=True, max_age=3600, name="hydra-backup-n1-x.tar.zst", size=12_345_678)
    policy = await start_node(bus, "n1")
    try:
        async def never(a: Action) -> None:
            return None

        parked = await policy.gate.submit(Action(kind="data.delete", target="data:old-backups",
                                                 summary="delete the old backups"), never)
        first = await wait_task(q, (await q.enqueue(TaskSpec(kind=KIND))).task.id, done, 30)
    finally:
        await policy.stop()
    assert first.state == "succeeded", first.error
    r = first.result
    md = await asyncio.to_thread(Path(r["files"][0]).read_text)
    page = await asyncio.to_thread(Path(r["files"][1]).read_text)
    assert r["opening"] == "Good morning. Overnight work finished and one thing waits for you." and r["opening"] in md
    assert "**research: ExLlamaV3** — done" in md and "Researched ExLlamaV3: 3 sources" in md
    assert f"http://hydra.home.test:8700/v1/tasks/{ok.id}" in md
    assert "**render sprites** — FAILED" in md and f"hydra tasks retry {bad.id}" in md
    assert "**ollama.service failed** (resolved" in md and "restarted ollama.service (AUTONOMOUS)" in md
    assert f"hydra approve {parked.approval_id}" in md and "delete the old backups" in md
    links = ApprovalLinks.open(s.node.state_dir)
    approve = md.split("[Approve](")[1].split(")")[0]
    assert approve.startswith("https://hydra.home.test/ui/link/") and f'href="{approve}"' in page
    claim = links.read(approve.rsplit("/", 1)[1])
    assert (claim.approval_id, claim.verb) == (parked.approval_id, Verb.APPROVE)
    assert "**gpu1** (gpu, worker): attention: GPU0 at 88°C" in md and "2048/24576 MB free" in md
    assert "research: vLLM" in md.split("## Queued for tonight")[1] and tonight.id in md
    assert "passages" in md.split("## Memory")[1]
    assert "last backup hydra-backup-n1-x.tar.zst 0.0 h ago, 12.3 MB" in md.split("## Backups")[1]
    assert "<h2>Backups</h2><p>last backup hydra-backup-n1-x.tar.zst" in page
    assert '<meta name="viewport"' in page and "<style>" in page
    for external in ("<script", "<link", 'src="http', "@import", "url("):
        assert external not in page
    assert r["delivered"] == {"ntfy": "sent", "webhook": "sent", "email": "sent"}
    ntfy = [json.loads(line)["body"] for line in receivers["ntfy"][1].read_text().splitlines()]
    assert ntfy[0]["topic"] == "hydra" and ntfy[0]["title"].startswith("Briefing for") and "ExLlamaV3" in ntfy[0][
        "message"]
    hook = [json.loads(line)["body"] for line in receivers["webhook"][1].read_text().splitlines()]
    assert hook[0]["data"]["html"] == page and hook[0]["data"]["markdown"] == md
    mail = message_from_bytes(smtp[1].messages[0].content)
    assert mail["To"] == "sam@home.test" and mail["Subject"].startswith("Briefing for")
    assert [p.get_content_type() for p in mail.walk()] == ["multipart/alternative", "text/plain", "text/html"]
    stored = await memory_node.stack.archival.search("briefing ExLlamaV3", limit=10,
                                                     filters=SearchFilters(source=f"pipeline:briefing:{first.id}"))
    assert stored and r["stored"] >= 1

    # the next briefing starts where this one ended, shows memory growth, and needs no model
    chat_server.models = []
    second = await wait_task(q, (await q.enqueue(TaskSpec(kind=KIND))).task.id, done, 30)
    assert second.state == "succeeded", second.error
    assert second.result["since"] == r["until"] and second.result["opening"] is None
    md2 = await asyncio.to_thread(Path(second.result["files"][0]).read_text)
    assert "research: ExLlamaV3" not in md2.split("## Incidents")[0]  # already reported last time
    assert "(+" in md2.split("## Memory")[1]  # the first briefing's own passages count as growth
    await chat.close()
