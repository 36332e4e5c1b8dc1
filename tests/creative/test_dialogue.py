"""Dialogue through a stand-in chat model on real HTTP: schema-checked lines, bounded retries that keep the
model's reply, and 'pending a model' without one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from hydra_os.chat.client import OpenAIChat
from memory.protocols import MemoryStack, PassageIn, RelationIn
from memory.wiring import LocalMemory
from pipelines.creative.dialogue import DialogueRejectedError, write
from pipelines.creative.pipeline import CreativeDeps, memory_context
from pipelines.creative.service import CreativeService
from pipelines.creative_config import CreativeConfig
from tests.creative.conftest import make_project
from tests.standins.sources.chat_model import ChatStandin


@pytest.fixture
async def chat_server() -> AsyncIterator[ChatStandin]:
    async with ChatStandin() as s:
        yield s


@pytest.fixture
async def chat(chat_server: ChatStandin) -> AsyncIterator[OpenAIChat]:
    model = OpenAIChat(chat_server.base_url, timeout_s=10)
    yield model
    await model.close()


async def test_lines_come_from_the_model_checked_against_the_schema(
        service: CreativeService, chat: OpenAIChat, chat_server: ChatStandin) -> None:
    await make_project(service)
    p = await service.get("ebq")
    out = await write(chat, p, p.scenes["s1"], retries=2, memory=["Aria lost her crown at the siege of Vael."])
    assert out.status == "done" and out.attempts == 1
    assert [ln.speaker for ln in out.lines] == [None, "aria", "zoe", "aria", "zoe"]
    assert out.lines[1].text == "Aria (1): Aria finds Zoë in the ruined hall."
    assert out.lines[3].expression == "determined"
    body = chat_server.log[-1]
    assert body["response_format"]["json_schema"]["name"] == "creative_dialogue"
    sent = json.loads(body["messages"][1]["content"].split("Scene JSON:", 1)[1])
    assert sent["characters"][0]["speech_style"] == "formal, clipped" and "siege of Vael" in sent["memory"][0]


async def test_a_bad_reply_is_sent_back_with_what_was_wrong(
        service: CreativeService, chat: OpenAIChat, chat_server: ChatStandin) -> None:
    await make_project(service)
    p = await service.get("ebq")
    bad = json.dumps({"lines": [{"speaker": "mira", "text": "Hi", "expression": "", "direction": ""}], "choices": []})
    chat_server.replies["creative_dialogue"] = [bad]
    out = await write(chat, p, p.scenes["s1"], retries=2)
    assert out.status == "done" and out.attempts == 2
    fix = chat_server.log[-1]["messages"][-1]["content"]
    assert "'mira' is not a character of this scene" in fix


async def test_after_the_retries_the_step_fails_keeping_the_reply(
        service: CreativeService, chat: OpenAIChat, chat_server: ChatStandin) -> None:
    await make_project(service)
    p = await service.get("ebq")
    chat_server.replies["creative_dialogue"] = ["not json at all", '{"lines": []}', '{"lines": [], "choices": []}']
    with pytest.raises(DialogueRejectedError, match="3 times") as e:
        await write(chat, p, p.scenes["s1"], retries=2)
    assert e.value.raw == '{"lines": [], "choices": []}' and len(chat_server.log) == 3


async def test_without_a_model_the_dialogue_is_pending_and_nothing_is_invented(
        service: CreativeService, chat: OpenAIChat, chat_server: ChatStandin) -> None:
    await make_project(service)
    p = await service.get("ebq")
    chat_server.models = []
    out = await write(chat, p, p.scenes["s1"], retries=2)
    assert out.status == "pending-model" and out.lines == [] and chat_server.log == []
    assert (await write(None, p, p.scenes["s1"], retries=2)).status == "pending-model"


async def test_the_dialogue_gets_what_memory_knows_about_the_project_and_its_characters(
        service: CreativeService, local_memory: LocalMemory, chat: OpenAIChat, chat_server: ChatStandin) -> None:
    await make_project(service)
    stack = local_memory.stack
    await stack.archival.add([PassageIn(text="Empire of Broken Queens: the ruined hall was burned by Zoë's guild.",
                                        source="owner-notes")])
    await stack.graph.upsert_relation(RelationIn(subject="Aria", type="sworn_enemy_of", object="the Pale King"))
    p = await service.get("ebq")

    async def memory() -> MemoryStack:
        return stack

    deps = CreativeDeps(CreativeConfig(), service, chat, memory)
    got = await memory_context(deps, p, p.scenes["s1"])
    assert any("burned by Zoë's guild" in g for g in got)
    assert "Aria sworn enemy of the Pale King" in got and not any(" has name " in g for g in got)
