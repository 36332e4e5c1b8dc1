"""Ask with a streamed answer against a real daemon whose gateway fronts a stand-in engine (real HTTP,
real OpenAI streaming with gaps between chunks): the Ask page's stream route and ``POST /v1/requests``
with ``stream: true`` hand on pieces while the engine is still writing; the exchange reaches memory once
the answer is complete, and not when it breaks off (the daemon's one-line error is the stream's last
event); other outcomes (the policy's decision on an operation) are one event, the same as the whole reply."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import DaemonProc
from tests.inference.test_gateway_e2e import Standin
from tests.ui.rig import ENGINE_MODEL, api, browser_client, control, csrf_of, model_up, sign_in, start_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
Event = tuple[str, dict[str, Any]]


@pytest.fixture(scope="module")
def engine() -> Iterator[Standin]:
    s = Standin(ENGINE_MODEL, "sa")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, engine: Standin) -> Iterator[DaemonProc]:
    d = start_daemon(tmp_path_factory.mktemp("ui-ask"), engine_url=engine.url)
    yield d
    d.stop()


async def events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    name = "message"
    async for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            yield name, json.loads(line[5:])


async def read_stream(r: httpx.Response, engine: Standin) -> tuple[list[Event], bool]:
    """Every event up to the last; and whether the engine was still writing when the first piece came."""
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.status_code
    seen: list[Event] = []
    early = False
    async for name, data in events(r.aiter_lines()):
        if name == "delta" and not seen:
            streaming = [e for e in await control(engine, {}) if e["stream"]]
            early = bool(streaming) and not streaming[-1]["finished"]
        seen.append((name, data))
    return seen, early


async def passages(d: DaemonProc, q: str) -> list[tuple[str | None, str]]:
    async with api(d) as c:
        hits = (await c.get("/v1/memory/search", params={"q": q, "limit": 20})).json()
    return [(h["passage"]["role"], h["passage"]["text"]) for h in hits]


async def until_archived(d: DaemonProc, question: str, answer: str) -> None:
    async with asyncio.timeout(60):
        while True:
            found = await passages(d, question)
            if ("user", question) in found and ("assistant", answer) in found:
                return
            await asyncio.sleep(0.5)


async def test_the_ask_page_streams_the_answer_and_memory_keeps_it(daemon: DaemonProc, engine: Standin) -> None:
    d = daemon
    await model_up(d)
    await control(engine, {"defaults": {"tokens": 5, "token_interval": 0.4}})
    question = "What is the plan for the garden shed roof?"
    async with browser_client(d, await sign_in(d, d.token)) as me:
        csrf = csrf_of((await me.get("/ui/ask")).text)
        async with me.stream("POST", "/ui/ask/stream", data={"csrf": csrf, "text": question}) as r:
            seen, early = await read_stream(r, engine)
        assert early, "the first piece came only after the engine had finished"
        deltas = [data["text"] for name, data in seen if name == "delta"]
        assert len(deltas) == 5 and [name for name, _ in seen][-1] == "reply", seen
        reply = seen[-1][1]
        answer = "sa-t0 sa-t1 sa-t2 sa-t3 sa-t4"
        assert reply["status"] == "answered" and reply["answer"] == reply["reply"] == "".join(deltas).strip() == answer
        sent = [e for e in await control(engine, {}) if e["stream"]][-1]["body"]
        assert sent["stream"] is True and sent["messages"][-1]["content"] == question
        await until_archived(d, question, answer)  # both turns, once the answer was complete

        # a refused form is the error page's one line, before anything streams
        bad = await me.post("/ui/ask/stream", data={"csrf": csrf, "text": "  "})
        assert bad.status_code == 422 and "text: this field is required" in bad.text
        forged = await me.post("/ui/ask/stream", data={"csrf": "nope", "text": question})
        assert forged.status_code == 403


async def test_an_answer_that_breaks_off_ends_with_the_error_and_is_not_kept(daemon: DaemonProc,
                                                                             engine: Standin) -> None:
    d = daemon
    await model_up(d)
    await control(engine, {"defaults": {"tokens": 5, "token_interval": 0.2}, "script": [{"die_after": 2}]})
    broken = "Which fuse feeds the workshop sockets?"
    async with api(d) as c:
        async with c.stream("POST", "/v1/requests", json={"text": broken, "stream": True}) as r:
            seen, _ = await read_stream(r, engine)
        assert [name for name, _ in seen] == ["delta", "delta", "error"], seen
        err = seen[-1][1]["error"]
        assert err["code"] == "model_unavailable" and "failed mid-stream" in err["message"], err
        # the next, whole answer is archived; the broken one before it never is (one archive queue, in order)
        async with asyncio.timeout(60):  # the gateway cools the engine that broke off for a moment
            while True:
                whole = (await c.post("/v1/requests", json={"text": "Which breaker feeds the garage lights?"})).json()
                if whole["status"] == "answered":
                    break
                await asyncio.sleep(0.5)
    await until_archived(d, "Which breaker feeds the garage lights?", whole["answer"])
    assert ("user", broken) not in await passages(d, broken)


async def test_other_outcomes_are_one_event_with_the_whole_reply(daemon: DaemonProc) -> None:
    async with api(daemon) as c:
        whole = (await c.post("/v1/requests", json={"text": "reboot the server"})).json()
        async with c.stream("POST", "/v1/requests", json={"text": "reboot the server", "stream": True}) as r:
            seen = [e async for e in events(r.aiter_lines())]
        assert seen == [("reply", whole)]
        assert whole["intent"] == "ops" and whole["decision"]["rule_id"], whole  # the policy gate decided
        empty = await c.post("/v1/requests", json={"text": " ", "stream": True})
        assert empty.status_code == 422 and empty.headers["content-type"].startswith("application/json")
        assert "whitespace" in empty.json()["error"]["message"]


async def test_a_closed_page_stops_the_answer_at_the_engine(daemon: DaemonProc, engine: Standin) -> None:
    """The browser leaves mid-answer: the page's route, the intake, the chat client and the gateway all let
    go, so the engine's request is cancelled (not written to the end for nobody), and nothing is archived."""
    d = daemon
    await model_up(d)
    await control(engine, {"defaults": {"tokens": 40, "token_interval": 0.3}})
    left = "Summarise the whole garden plan, season by season."
    async with browser_client(d, await sign_in(d, d.token)) as me:
        csrf = csrf_of((await me.get("/ui/ask")).text)
        async with me.stream("POST", "/ui/ask/stream", data={"csrf": csrf, "text": left}) as r:
            async for name, _ in events(r.aiter_lines()):
                if name == "delta":
                    break  # and close the connection, as a closed tab does
    async with asyncio.timeout(30):
        while True:
            entry = [e for e in await control(engine, {}) if e["stream"]][-1]
            if entry["cancelled"]:
                break
            await asyncio.sleep(0.3)
    assert not entry["finished"]
    assert ("user", left) not in await passages(d, left)
