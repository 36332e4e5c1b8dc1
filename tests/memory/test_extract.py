"""Optional LLM extraction through an OpenAI-compatible chat endpoint (a stand-in server process)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from memory.errors import MemoryInputError
from memory.extract import ChatExtractor, MemoryWriter, relation_type
from memory.protocols import Role
from memory.wiring import LocalMemory
from tests.helpers import REPO, free_port, wait_for


class ChatProc:
    def __init__(self, mode: str) -> None:
        self.url = f"http://127.0.0.1:{(port := free_port())}"
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.memory.chat_standin", "--port", str(port),
                                      "--mode", mode], cwd=str(REPO), stderr=subprocess.DEVNULL)

        def up() -> bool:
            try:
                return httpx.get(self.url + "/_standin/requests", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 15, what="chat stand-in")

    def requests(self) -> list[dict[str, object]]:
        return list(httpx.get(self.url + "/_standin/requests").json())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def chat() -> Iterator[dict[str, ChatProc]]:
    procs = {m: ChatProc(m) for m in ("ok", "error")}
    yield procs
    for p in procs.values():
        p.stop()


async def test_one_call_per_write_and_facts_land_in_the_graph(
    local_mem: LocalMemory, chat: dict[str, ChatProc]
) -> None:
    srv = chat["ok"]
    before = len(srv.requests())
    extractor = ChatExtractor(srv.url, "hydra/auto", api_key="tok")
    try:
        w = MemoryWriter(local_mem.stack, extractor)
        done = await w.remember("Sam works on Starfall. Starfall uses Ren'Py. the weather was nice.")
        assert done.extraction == "done"
        assert [(r.subject, r.type, r.object) for r in done.relations] == [
            ("Sam", "works_on", "Starfall"), ("Starfall", "uses", "Ren'Py")
        ]
        assert all(r.source == done.passage.id for r in done.relations)  # provenance: the passage
        assert [f.object for f in await local_mem.stack.graph.facts_about("Sam")] == ["Starfall"]
        again = await w.remember("Sam works on Starfall. Starfall uses Ren'Py. the weather was nice.")
        assert again.passage.status == "duplicate" and again.extraction == "skipped"
        off = await w.remember("Ada likes Python.", extract=False)
        assert off.extraction == "off"
    finally:
        await extractor.close()
    sent = srv.requests()[before:]
    assert len(sent) == 1  # one model call for three writes: the duplicate and extract=False made none
    assert sent[0]["model"] == "hydra/auto"
    assert sent[0]["response_format"]["type"] == "json_schema"  # type: ignore[index]


async def test_without_a_model_the_write_still_happens(local_mem: LocalMemory, chat: dict[str, ChatProc]) -> None:
    none = await MemoryWriter(local_mem.stack, None).remember("Sam lives in Porto.")
    assert none.extraction == "off" and none.passage.status == "added"
    failing = ChatExtractor(chat["error"].url, "hydra/auto")
    try:
        done = await MemoryWriter(local_mem.stack, failing).remember("Sam lives in Lisbon.")
    finally:
        await failing.close()
    assert done.passage.status == "added" and done.extraction == "skipped"
    assert "answered HTTP 503" in (done.note or "")
    assert await local_mem.stack.graph.resolve("Lisbon") is None
    assert (await local_mem.stack.archival.get(done.passage.id)).text == "Sam lives in Lisbon."


def test_relation_type_normalises_and_refuses_nonsense() -> None:
    assert relation_type("Works On") == "works_on" and relation_type("prefers-editor") == "prefers_editor"
    with pytest.raises(MemoryInputError, match="not a usable relation type"):
        relation_type("123")


async def test_remember_keeps_a_chat_turns_role_session_and_time(local_mem: LocalMemory) -> None:
    w = MemoryWriter(local_mem.stack, None)
    at = datetime(2025, 12, 26, 16, 30, tzinfo=UTC)
    mine = await w.remember("swapped the dying disk in attic today", session="conv-1", role=Role.USER, at=at)
    reply = await w.remember(
        "You replaced the dying disk in attic today.", session="conv-1", role=Role.ASSISTANT,
        at=at + timedelta(seconds=20),
    )
    got = await local_mem.stack.archival.get(reply.passage.id)
    assert (got.role, got.session, got.created_at) == (Role.ASSISTANT, "conv-1", at + timedelta(seconds=20))
    assert got.reply_to == mine.passage.id
    asked = datetime(2026, 3, 1, tzinfo=UTC)
    hits = await local_mem.stack.archival.search("what did I do on December 26th?", limit=1, asked_at=asked)
    assert hits[0].passage.id == mine.passage.id

