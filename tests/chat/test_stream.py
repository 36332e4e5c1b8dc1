"""The shared chat client's streamed answers (``OpenAIChat.chat_stream``) against the stand-in OpenAI server
(real HTTP, real SSE) and through a real gateway: pieces arrive while the model is still writing, and
every way a stream can fail is one of the chat package's errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hydra_os.bus.client import Bus
from hydra_os.chat.client import AUTO_MODEL, OpenAIChat
from hydra_os.chat.errors import ModelReplyError, ModelUnavailableError
from tests.inference.gateway_harness import TOKEN, gateway_harness
from tests.standins.openai_server import StandinServer

MSG = [{"role": "user", "content": "tell me"}]


@pytest.fixture
async def engine() -> AsyncIterator[StandinServer]:
    async with StandinServer(["m"], name="eng") as s:
        yield s


async def test_pieces_arrive_while_the_model_still_writes(engine: StandinServer) -> None:
    engine.defaults.update({"tokens": 4, "token_interval": 0.3})
    chat = OpenAIChat(engine.base_url, model="m")
    try:
        pieces, unfinished = [], []
        async for piece in chat.chat_stream(MSG, max_tokens=50):
            pieces.append(piece)
            unfinished.append(not engine.log[-1]["finished"])
    finally:
        await chat.close()
    assert pieces == ["eng-t0 ", "eng-t1 ", "eng-t2 ", "eng-t3 "]
    assert unfinished[:3] == [True, True, True]  # handed on before the engine had written the rest
    body = engine.log[-1]["body"]
    assert body["stream"] is True and body["max_tokens"] == 50 and body["messages"] == MSG


async def _drain(chat: OpenAIChat) -> list[str]:
    return [p async for p in chat.chat_stream(MSG)]


async def test_every_failure_is_a_chat_error(engine: StandinServer) -> None:
    chat = OpenAIChat(engine.base_url, model="m", idle_timeout_s=0.5)
    try:
        engine.script.append({"status": 503, "message": "engine overloaded"})
        with pytest.raises(ModelUnavailableError, match="HTTP 503: engine overloaded"):
            await _drain(chat)
        engine.script.append({"status": 400, "message": "bad max_tokens"})
        with pytest.raises(ModelReplyError, match="refused the request: HTTP 400: bad max_tokens"):
            await _drain(chat)
        got: list[str] = []
        engine.script.append({"die_after": 2})  # the connection cut mid-answer
        with pytest.raises(ModelUnavailableError, match="broke off the answer"):
            async for p in chat.chat_stream(MSG):
                got.append(p)
        assert got == ["eng-t0 ", "eng-t1 "]
        engine.script.append({"stall_after": 1})  # silent with the connection open: the idle timeout ends it
        with pytest.raises(ModelUnavailableError, match="broke off the answer: ReadTimeout"):
            await _drain(chat)
        assert engine.log[-1]["cancelled"] or not engine.log[-1]["finished"]
        engine.script.append({"tokens": 0})  # [DONE] with nothing said
        with pytest.raises(ModelReplyError, match="empty reply"):
            await _drain(chat)
    finally:
        await chat.close()
    unreachable = OpenAIChat("http://127.0.0.1:9/v1", model="m", connect_timeout_s=2)
    try:
        with pytest.raises(ModelUnavailableError, match="broke off the answer: ConnectError"):
            await _drain(unreachable)
    finally:
        await unreachable.close()


async def test_through_the_gateway_and_its_error_event(bus: Bus) -> None:
    async with gateway_harness(bus, [("one", "m", "fast", {})]) as h:
        chat = OpenAIChat(h.url + "/v1", model=AUTO_MODEL, token=TOKEN)
        try:
            text = "".join(await _drain(chat))
            assert text.split()[:2] == ["one-t0", "one-t1"]
            h.backends["one"].script.append({"die_after": 2})  # the gateway tells it as an error event
            with pytest.raises(ModelUnavailableError, match=r"the endpoint gw\.one failed mid-stream"):
                await _drain(chat)
        finally:
            await chat.close()
