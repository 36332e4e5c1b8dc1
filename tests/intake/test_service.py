"""The intake service on a real bus: real task queue, real policy gate, real memory service, the stand-in
model on real HTTP. Each request's reply is checked along with what it really did (task records,
approvals, receipts, memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.chat.client import OpenAIChat
from hydra_os.chat.errors import ModelUnavailableError
from hydra_os.config import Settings
from hydra_os.intake.errors import RequestInputError
from hydra_os.intake.model import Delta, Reply, RequestIn
from hydra_os.intake.service import IntakeService
from hydra_os.policy.audit import read_events
from hydra_os.policy.model import Action
from hydra_os.scheduler.store import ScheduleStore
from hydra_os.tasks.windows import Windows
from memory.archiver import ExchangeArchiver
from memory.protocols import MemoryStack
from memory.wiring import LocalMemory, client_stack
from tests.helpers import while_paused
from tests.pipelines.conftest import memory_config
from tests.policy.nodes import PolicyNode, start_node
from tests.standins.openai_server import StandinServer
from tests.standins.sources.chat_model import ChatStandin
from tests.tasks.conftest import queue_for

TZ = "Europe/Berlin"
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=ZoneInfo(TZ))


def settings(tmp_path: Path) -> Settings:
    return Settings(node={"id": "n1", "state_dir": tmp_path / "state"}, owner={"timezone": TZ})


@pytest.fixture
async def gate_node(bus: Bus) -> AsyncIterator[PolicyNode]:
    n = await start_node(bus, "n1")
    yield n
    await n.stop()


@pytest.fixture
def restarted(gate_node: PolicyNode) -> list[Action]:
    ran: list[Action] = []

    async def restart(action: Action) -> dict[str, Any]:  # the executor the healing slice registers
        ran.append(action)
        return {"unit": action.params["unit"], "ActiveState": "active"}

    gate_node.gate.register_executor("unit.restart", restart)
    return ran


MakeSvc = Callable[..., IntakeService]


@pytest.fixture
def make_svc(bus: Bus, tmp_path: Path, gate_node: PolicyNode, memory_node: LocalMemory) -> MakeSvc:
    def make(chat: OpenAIChat | None = None, archiver: ExchangeArchiver | None = None, **over: Any) -> IntakeService:
        s = settings(tmp_path)
        for k, v in over.items():
            setattr(s.intake, k, v)

        async def memory() -> MemoryStack:
            return await client_stack(bus, memory_config())

        q = queue_for(bus)
        q.windows = Windows(s.owner)
        return IntakeService(s, s.intake, q, "n1", gate=gate_node.gate, chat=chat, memory=memory, archiver=archiver)

    return make


async def ask(svc: IntakeService, text: str, **kw: Any) -> Any:
    return await svc.handle(RequestIn(text=text, **kw), now=NOW)


async def test_research_overnight_is_queued_for_the_window_in_the_owners_words(make_svc: MakeSvc) -> None:
    svc = make_svc()
    r = await ask(svc, "Research the latest ExLlamaV3 developments overnight")
    assert r.status == "queued" and r.intent == "task" and r.kind == "research" and r.classified_by == "rules"
    task = await svc.queue.get(r.task_id)
    assert task.kind == "research.topic" and task.window == "overnight" and task.source == "intake"
    assert task.params == {"topic": "latest ExLlamaV3 developments"}
    assert r.reply.startswith(f'Queued research on "latest ExLlamaV3 developments" as task {r.task_id}, to run ')
    assert "overnight window" in r.reply and r.reply.count(".") >= 1
    assert r.when is not None and r.when.kind == "window"
    assert any("no live worker handles research.topic" in n for n in r.notes)
    again = await ask(svc, "Research the latest ExLlamaV3 developments overnight", request_id="r-1")
    same = await ask(svc, "Research the latest ExLlamaV3 developments overnight", request_id="r-1")
    assert again.task_id == same.task_id != r.task_id


async def test_reminder_at_a_time_and_recurring_requests_are_scheduled(make_svc: MakeSvc) -> None:
    svc = make_svc()
    r = await ask(svc, "remind me to renew the domain tomorrow at 9am")
    task = await svc.queue.get(r.task_id)
    assert task.kind == "intake.reminder" and task.params == {"text": "renew the domain"}
    assert task.not_before == datetime(2026, 11, 21, 9, 0, tzinfo=ZoneInfo(TZ)).timestamp()
    before = len(await svc.queue.list_tasks(include_finished=True))
    r = await ask(svc, "every Monday at 9 research GPU prices")
    assert r.status == "scheduled" and r.job_id and r.job_id.startswith("req-gpu-prices-"), r
    stored = await ScheduleStore(svc.queue.bus).get(r.job_id)
    assert stored.job.kind == "research.topic" and stored.job.cron == "0 9 * * mon"
    assert stored.job.params == {"topic": "GPU prices"} and stored.source == "intake"
    assert r.next_run is not None
    nxt = datetime.fromisoformat(r.next_run).astimezone(ZoneInfo(TZ))
    assert (nxt.weekday(), nxt.hour, nxt.minute) == (0, 9, 0) and nxt > datetime.now(ZoneInfo(TZ))
    assert f"as job {r.job_id}; it next runs Mon " in r.reply and "09:00" in r.reply
    assert len(await svc.queue.list_tasks(include_finished=True)) == before  # a schedule, not a task now
    again = await ask(svc, "every Monday at 9 research GPU prices")
    assert again.status == "scheduled" and again.job_id == r.job_id and again.reply.startswith("Already scheduled")
    assert list(await ScheduleStore(svc.queue.bus).all()) == [r.job_id]
    r = await ask(svc, "remind me every day at 7 to water the plants")
    stored = await ScheduleStore(svc.queue.bus).get(str(r.job_id))
    assert r.status == "scheduled" and stored.job.kind == "intake.reminder" and stored.job.cron == "0 7 * * *"
    assert stored.job.params == {"text": "water the plants"}


async def test_ops_go_through_the_policy_gate(make_svc: MakeSvc, restarted: list[Action], bus: Bus,
                                              gate_node: PolicyNode) -> None:
    svc = make_svc()
    r = await ask(svc, "restart the ollama service")
    assert r.status == "done" and r.reply.startswith("Done: restart ollama.service just now (AUTONOMOUS")
    assert [a.params["unit"] for a in restarted] == ["ollama.service"]
    types = [e.event.type for e in await read_events(bus, node="n1") if e.event]
    assert types[-3:] == ["policy.decided", "policy.executing", "policy.outcome"]
    r = await ask(svc, "please delete the old backups")
    assert r.status == "unsupported" and r.decision and r.decision["level"] == "ASK_FIRST"
    assert "nothing was done" in r.reply
    r = await ask(svc, "restart it")
    assert r.status == "clarify" and r.question


async def test_ops_waiting_for_approval_and_refused(bus: Bus, tmp_path: Path, memory_node: LocalMemory) -> None:
    policy = ('[[rule]]\nid = "ask-restarts"\nlevel = "ASK_FIRST"\nkinds = ["unit.restart"]\nreason = "owner wants '
              'to know"\ntargets = ["unit:ollama.service"]\n\n[[rule]]\nid = "no-nginx"\nlevel = "NEVER"\n'
              'kinds = ["unit.restart"]\ntargets = ["unit:nginx.service"]\nreason = "nginx is hand-managed"\n')
    node = await start_node(bus, "n1", policy_text=policy)
    try:
        async def restart(action: Action) -> dict[str, Any]:
            return {}

        node.gate.register_executor("unit.restart", restart)
        s = settings(tmp_path)
        svc = IntakeService(s, s.intake, queue_for(bus), "n1", gate=node.gate)
        r = await ask(svc, "restart ollama")
        assert r.status == "pending-approval" and r.approval_id
        assert r.reply.startswith(f"Waiting for approval {r.approval_id} to restart ollama.service")
        assert (await node.store.get(r.approval_id)).state == "pending"
        r = await ask(svc, "restart nginx")
        assert r.status == "refused" and "nginx is hand-managed" in r.reply
    finally:
        await node.stop()


async def test_answers_use_the_model_with_memory_context(make_svc: MakeSvc, chat: OpenAIChat,
                                                         chat_server: ChatStandin) -> None:
    svc = make_svc(chat)
    r = await ask(svc, "remember that the NAS is at 10.0.0.5")
    assert r.status == "remembered" and "the NAS is at 10.0.0.5" in r.reply
    r = await ask(svc, "where is the NAS?")
    assert r.status == "answered" and r.answer == "Answer: where is the NAS?"
    system = chat_server.log[-1]["messages"][0]["content"]
    assert "the NAS is at 10.0.0.5" in system  # memory context went into the prompt
    r = await ask(make_svc(None), "where is the NAS?")  # no model: memory quoted, nothing made up
    assert r.status == "answered" and "quoting memory" in r.reply and "the NAS is at 10.0.0.5" in r.reply
    assert "no model is available: quoted from memory" in r.notes


async def test_preferences_land_in_core_memory(make_svc: MakeSvc, memory_node: LocalMemory) -> None:
    r = await ask(make_svc(), "my favourite editor is Helix")
    assert r.status == "remembered" and r.reply == "Remembered your preference (editor: Helix)."
    assert "editor: Helix" in (await memory_node.stack.core.get_block("preferences")).value
    r = await ask(make_svc(), "remember that my name is Sam")  # the name keeps its capital
    assert r.status == "remembered" and r.reply == "Remembered your preference (name: Sam).", r


async def _prefs(memory_node: LocalMemory) -> str:
    return (await memory_node.stack.core.get_block("preferences")).value


async def test_a_changed_favourite_keeps_the_value_not_the_word_now(make_svc: MakeSvc,
                                                                     memory_node: LocalMemory) -> None:
    """The intake reads statements with memory.statements' rules (the gateway's): "is now Neovim" -> Neovim."""
    await ask(make_svc(), "my favourite editor is Helix")
    r = await ask(make_svc(), "my favourite editor is now Neovim")
    assert r.reply == "Remembered your preference (editor: Neovim).", r
    prefs = await _prefs(memory_node)
    assert "editor: Neovim" in prefs and "now Neovim" not in prefs and "Helix" not in prefs
    facts = {f.object: f for f in await memory_node.stack.graph.facts_about("owner") if f.type == "prefers_editor"}
    assert facts["Neovim"].valid_to is None and facts["Helix"].valid_to is not None  # closed, not lost


async def test_a_change_said_naturally_replaces_the_kept_preference(make_svc: MakeSvc,
                                                                     memory_node: LocalMemory) -> None:
    svc = make_svc(None)
    r = await ask(svc, "I switched to Neovim")  # nothing kept says what Neovim replaces: no guessed key
    assert "editor" not in await _prefs(memory_node) and r.status != "remembered", r
    for said in ("I switched to Neovim", "I use Neovim now", "I've moved to Neovim.", "these days I use Neovim",
                 "I moved from Helix to Neovim last week", "Nowadays I'm using Neovim, it starts faster"):
        await ask(svc, "my favourite editor is Helix")
        r = await ask(svc, said)
        assert r.status == "remembered" and "editor: Neovim" in r.reply, (said, r)
        assert "editor: Neovim" in await _prefs(memory_node), said
    await ask(svc, "my favourite editor is Helix")
    for not_a_change in ("did I switch to Neovim?", "Did I move to Neovim", "I moved to Berlin",
                         "I use Neovim and Helix", "I switched to the night shift"):
        r = await ask(svc, not_a_change)
        prefs = await _prefs(memory_node)
        assert "editor: Helix" in prefs and "Berlin" not in prefs and "night" not in prefs, (not_a_change, prefs)
    r = await ask(svc, "did I switch to Neovim?")
    assert r.intent == "answer" and r.status == "answered", r  # a question stays a question


async def test_a_statement_is_acknowledged_not_answered_with_a_quotation(make_svc: MakeSvc,
                                                                          memory_node: LocalMemory) -> None:
    await ask(make_svc(), "remember that the NAS is called tank")
    r = await ask(make_svc(None), "call me Sam")
    assert r.status == "remembered" and "name: Sam" in r.reply and "tank" not in r.reply, r
    assert "name: Sam" in await _prefs(memory_node)


async def test_no_model_quotes_nothing_unrelated(make_svc: MakeSvc, memory_node: LocalMemory) -> None:
    """With no model, a question memory holds nothing about is told so; it is not quoted the top passage."""
    svc = make_svc(None)
    await ask(svc, "remember that my favourite editor is Helix")
    await ask(svc, "remember that I replaced the failing disk in the NAS on Monday")
    for unrelated in ("what's my name?", "hi", "how tall is the Eiffel tower?"):
        r = await ask(svc, unrelated)
        assert "nothing in memory matches" in r.reply and "Helix" not in r.reply and "disk" not in r.reply, r
    r = await ask(svc, "what editor do I use?")
    assert "quoting memory" in r.reply and "Helix" in r.reply, r
    r = await ask(svc, "when did I replace the disk?")
    assert "quoting memory" in r.reply and "failing disk" in r.reply, r


async def test_unsure_rules_ask_the_model_with_a_schema(make_svc: MakeSvc, chat: OpenAIChat,
                                                        chat_server: ChatStandin) -> None:
    r = await ask(make_svc(None), "find cheap used GPUs for the homelab")
    assert r.intent == "answer" and r.classified_by == "rules" and "no model is available; the rules decided" in r.notes
    r = await ask(make_svc(chat), "find cheap used GPUs for the homelab")
    assert r.intent == "task" and r.kind == "research" and r.classified_by == "model" and r.status == "queued"
    body = chat_server.log[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "intake_classification"
    chat_server.replies["intake_classification"] = '{"intent": "launch-missiles"}'
    r = await ask(make_svc(chat), "find cheap used GPUs for the homelab")
    assert r.classified_by == "rules" and "the model could not classify it; the rules decided" in r.notes


async def test_pipelines_clarify_and_bad_input(make_svc: MakeSvc) -> None:
    svc = make_svc()
    r = await ask(svc, "give me the briefing now")
    assert r.status == "started" and (await svc.queue.get(r.task_id)).kind == "briefing.morning"
    r = await ask(svc, "continue the visual novel chapter 3")
    assert r.status == "unsupported" and "creative pipeline" in r.reply and r.task_id is None
    r = await ask(svc, "do it again")
    assert r.status == "clarify" and r.reply == r.question and "?" in r.question
    r = await ask(svc, "research ExLlamaV3 overnight", dry_run=True)
    assert r.status == "done" and "dry run" in r.reply and r.task_id is None
    with pytest.raises(RequestInputError, match="text: 5000 characters"):
        await ask(svc, "x" * 5000)
    with pytest.raises(RequestInputError, match="whitespace"):
        await ask(svc, "   \n ")


async def test_statements_in_a_question_are_kept(make_svc: MakeSvc, memory_node: LocalMemory) -> None:
    r = await ask(make_svc(None), "Shorter answers please. What is RAID 5")
    assert "kept what you said about your preferences or projects in memory" in r.notes, r
    assert "answer_length: short" in (await memory_node.stack.core.get_block("preferences")).value


async def test_a_request_rides_out_a_bus_busy_past_its_request_timeout(make_svc: MakeSvc,
                                                                       nats_server: EmbeddedNats) -> None:
    """A busy machine (here the bus server paused for 3 s, past bus.request_timeout's 2 s, as a loaded
    CI box starves it) delays a request; it does not fail it, and it queues one task, not two."""
    svc = make_svc()
    pid = nats_server.pid
    assert pid is not None
    r = await while_paused(pid, ask(svc, "research owls overnight"))
    assert r.status == "queued" and r.task_id, r
    owls = [t for t in await svc.queue.list_tasks() if t.title == "research: owls"]
    assert [t.id for t in owls] == [r.task_id]
    assert not any("sent before" in n for n in r.notes), r.notes


async def test_a_recurring_request_rides_out_a_busy_bus(make_svc: MakeSvc, nats_server: EmbeddedNats) -> None:
    svc = make_svc()
    await svc.queue.store.worker_kinds()  # the buckets exist: the pause falls on the job's own write
    assert nats_server.pid is not None
    r = await while_paused(nats_server.pid, ask(svc, "every Monday at 9 research owl migration"))
    assert r.status == "scheduled" and r.reply.startswith("Scheduled "), r
    assert r.job_id in await ScheduleStore(svc.queue.bus).all()


async def _archived(memory_node: LocalMemory, text: str) -> list[tuple[str | None, str]]:
    hits = await memory_node.stack.archival.search(text, limit=20)
    return [(h.passage.role, h.passage.text) for h in hits]


async def test_a_streamed_answer_is_the_whole_answer_in_pieces(make_svc: MakeSvc, bus: Bus,
                                                             memory_node: LocalMemory) -> None:
    """The streamed and the whole answer share memory in and out: the same context in the prompt, and the
    exchange archived once the answer is complete (never when it breaks off)."""
    async def memory() -> MemoryStack:
        return await client_stack(bus, memory_config())

    archiver = ExchangeArchiver(memory, owner="owner")
    archiver.start()
    async with StandinServer(["m"], name="eng") as engine:
        engine.defaults.update({"tokens": 4, "token_interval": 0.05})
        chat = OpenAIChat(engine.base_url, model="m")
        try:
            svc = make_svc(chat, archiver)
            await ask(svc, "remember that the NAS is at 10.0.0.5")
            items = [i async for i in await svc.open_stream(RequestIn(text="where is the NAS?", stream=True), now=NOW)]
            assert [i.text for i in items if isinstance(i, Delta)] == ["eng-t0 ", "eng-t1 ", "eng-t2 ", "eng-t3 "]
            reply = items[-1]
            assert isinstance(reply, Reply) and reply.status == "answered"
            assert reply.answer == "eng-t0 eng-t1 eng-t2 eng-t3"
            sent = engine.log[-1]["body"]
            assert sent["stream"] is True and "the NAS is at 10.0.0.5" in sent["messages"][0]["content"]
            await archiver.drained(30)
            kept = await _archived(memory_node, "where is the NAS?")
            assert ("user", "where is the NAS?") in kept and ("assistant", reply.answer) in kept

            engine.script.append({"die_after": 1})
            got: list[Any] = []
            with pytest.raises(ModelUnavailableError, match="broke off the answer"):
                async for item in await svc.open_stream(RequestIn(text="which disk is in the NAS?", stream=True),
                                                        now=NOW):
                    got.append(item)
            assert [type(i) for i in got] == [Delta]
            whole = await ask(svc, "which switch is in the rack?")  # the whole answer is archived the same way
            assert whole.status == "answered"
            await archiver.drained(30)
            switch, disk = "which switch is in the rack?", "which disk is in the NAS?"
            assert ("user", switch) in await _archived(memory_node, switch)
            assert ("user", disk) not in await _archived(memory_node, disk)

            one = [i async for i in await svc.open_stream(RequestIn(text="research owls overnight", stream=True),
                                                          now=NOW)]
            assert len(one) == 1 and isinstance(one[0], Reply) and one[0].status == "queued"
        finally:
            await chat.close()
            await archiver.stop()
