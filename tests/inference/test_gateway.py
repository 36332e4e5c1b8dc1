"""The OpenAI-compatible gateway over real HTTP, with stand-in endpoints and the official openai SDK."""

from __future__ import annotations

import json
import re

import openai
import pytest

from hydra_os.bus.client import Bus
from tests.inference.gateway_harness import TOKEN, gateway_harness


def _route(h: dict[str, str] | object) -> dict[str, str]:
    raw = h["x-hydra-route"]  # type: ignore[index]
    out = {}
    for part in raw.split("; ", 3):
        k, _, v = part.partition("=")
        out[k] = v
    return out


THREE_TIERS = [
    ("small", "gemma-small", "fast", {}),
    ("mid", "qwen-8b", "standard", {"aliases": ["qwen"]}),
    ("big", "llama-70b", "heavy", {"context_length": 32768}),
]


async def test_openai_sdk_chat_stream_models_and_usage(bus: Bus) -> None:
    async with gateway_harness(bus, THREE_TIERS, aliases={"chat": "qwen-8b"}) as h:
        client = openai.AsyncOpenAI(base_url=h.url + "/v1", api_key=TOKEN)
        try:
            # non-streaming, model by name; usage passed through
            raw = await client.chat.completions.with_raw_response.create(
                model="llama-70b", messages=[{"role": "user", "content": "hello there friend"}]
            )
            r = raw.parse()
            assert r.choices[0].message.content is not None and r.choices[0].message.content.startswith("big-t0")
            assert r.usage is not None and r.usage.completion_tokens == 8 and r.usage.prompt_tokens == 3
            route = _route(raw.headers)
            assert route["endpoint"] == "gw.big" and route["tier"] == "heavy" and route["reason"]
            # streaming through an alias from config
            stream = await client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "count"}], stream=True,
                stream_options={"include_usage": True},
            )
            text = ""
            usage = None
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                if chunk.usage:
                    usage = chunk.usage
            assert text.split() == [f"mid-t{i}" for i in range(8)]
            assert usage is not None and usage.completion_tokens == 8
            assert h.backends["mid"].log[-1]["model"] == "qwen-8b"  # alias rewritten for the upstream
            # an alias announced by the endpoint itself
            r2 = await client.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "x"}])
            assert r2.choices[0].message.content.startswith("mid-")  # type: ignore[union-attr]
            # models: served models, aliases, hydra/auto
            ids = {m.id async for m in client.models.list()}
            assert {"gemma-small", "qwen-8b", "llama-70b", "qwen", "chat", "hydra/auto"} <= ids
            # completions and embeddings paths
            c = await client.completions.create(model="gemma-small", prompt="Once upon a time", max_tokens=3)
            assert c.choices[0].text.split() == ["small-t0", "small-t1", "small-t2"]
            assert c.usage is not None and c.usage.completion_tokens == 3
        finally:
            await client.close()


async def test_hydra_auto_routes_by_complexity(bus: Bus) -> None:
    async with gateway_harness(bus, THREE_TIERS) as h, h.client() as c:
        easy = {"model": "hydra/auto", "messages": [{"role": "user", "content": "What is the capital of France?"}]}
        r = await c.post("/v1/chat/completions", json=easy)
        assert r.status_code == 200, r.text
        assert _route(r.headers)["tier"] == "fast" and _route(r.headers)["endpoint"] == "gw.small"
        hard = {"model": "hydra/auto", "messages": [{"role": "user", "content": (
            "Prove that there are infinitely many primes, then derive the density of primes of the form 4k+3, "
            "compare the two arguments step by step, and justify each lemma rigorously.")}]}
        r = await c.post("/v1/chat/completions", json=hard)
        assert r.status_code == 200, r.text
        route = _route(r.headers)
        assert route["tier"] == "heavy" and route["endpoint"] == "gw.big"
        assert route["reason"].startswith("model heavy p=") and "cue" in route["reason"]
        assert h.backends["big"].log[-1]["model"] == "llama-70b"  # hydra/auto rewritten to the real model
        big = {"model": "hydra/auto", "max_tokens": 6000, "messages": [{"role": "user", "content": "a story"}]}
        r = await c.post("/v1/chat/completions", json=big)
        assert _route(r.headers)["tier"] == "heavy" and "max_tokens 6000" in _route(r.headers)["reason"]
        # metrics count routed requests per tier and per endpoint
        m = (await c.get("/metrics")).text
        assert 'hydra_inference_routed_total{tier="heavy"} 2.0' in m
        assert 'hydra_inference_requests_total{endpoint="gw.small",model="gemma-small",outcome="ok"} 1.0' in m


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/v1/chat/completions", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404, "model"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, 400, "model"),
        ("/v1/chat/completions", {"model": "qwen-8b"}, 400, "messages"),
        ("/v1/chat/completions", {"model": "qwen-8b", "messages": "hi"}, 400, "messages"),
        ("/v1/chat/completions", {"model": "qwen-8b", "messages": [{"role": "bot", "content": "x"}]}, 400,
         "messages.0.role"),
        ("/v1/chat/completions", {"model": "qwen-8b", "messages": [{"role": "user", "content": "x"}],
                                  "stream": "yes"}, 400, "stream"),
        ("/v1/chat/completions", {"model": "qwen-8b", "messages": [{"role": "user", "content": "x"}],
                                  "max_tokens": 0}, 400, "max_tokens"),
        # sampling parameters a client sends with the wrong type are the client's error, not the engine's
        ("/v1/chat/completions", {"model": "qwen-8b", "messages": [{"role": "user", "content": "x"}],
                                  "temperature": "hot"}, 400, "temperature"),
        ("/v1/chat/completions", {"model": "qwen-8b", "messages": [{"role": "user", "content": "x"}],
                                  "top_p": 1.5}, 400, "top_p"),
        ("/v1/chat/completions", {"model": "qwen-8b", "messages": [{"role": "user", "content": "x"}],
                                  "n": "2"}, 400, "n"),
        ("/v1/completions", {"model": "qwen-8b", "prompt": "x", "temperature": -1}, 400, "temperature"),
        ("/v1/completions", {"model": "qwen-8b", "prompt": 5}, 400, "prompt"),
        ("/v1/embeddings", {"model": "qwen-8b"}, 400, "input"),
        ("/v1/embeddings", {"model": "qwen-8b", "input": "x"}, 404, "model"),  # not an embedding model
    ],
)
async def test_bad_requests_get_openai_errors_naming_the_field(
    bus: Bus, path: str, body: dict[str, object], status: int, param: str
) -> None:
    async with gateway_harness(bus, THREE_TIERS[1:2]) as h, h.client() as c:
        r = await c.post(path, json=body)
        assert r.status_code == status, r.text
        err = r.json()["error"]
        assert err["param"] == param and param.split(".")[0] in err["message"]
        assert set(err) == {"message", "type", "param", "code"}
        if status == 404:
            assert err["code"] == "model_not_found"
        assert h.backends["mid"].log == []  # nothing reached the endpoint


async def test_malformed_json_auth_and_sdk_errors(bus: Bus) -> None:
    async with gateway_harness(bus, THREE_TIERS[1:2]) as h:
        async with h.client() as c:
            r = await c.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
            assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
        async with h.client(token=None) as c:
            r = await c.post("/v1/chat/completions", json={"model": "qwen-8b", "messages": []})
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
            assert (await c.get("/v1/models")).status_code == 401
            assert (await c.get("/metrics")).status_code == 401
        client = openai.AsyncOpenAI(base_url=h.url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
        client = openai.AsyncOpenAI(base_url=h.url + "/v1", api_key=TOKEN, max_retries=0)
        with pytest.raises(openai.NotFoundError) as ei:
            await client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
        assert ei.value.code == "model_not_found"
        await client.close()


async def test_open_routes_when_auth_is_off_and_embeddings(bus: Bus) -> None:
    backends = [("emb", "nomic-embed", "fast", {"embeddings": True}), *THREE_TIERS[:1]]
    async with gateway_harness(bus, backends, require_auth=False) as h, h.client(token=None) as c:
        r = await c.post("/v1/embeddings", json={"model": "hydra/auto", "input": ["a b", "c"]})
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) == 2 and r.json()["usage"]["prompt_tokens"] == 3
        assert _route(r.headers)["endpoint"] == "gw.emb"
        # an embedding model is not offered for chat
        r = await c.post("/v1/chat/completions", json={"model": "nomic-embed",
                                                       "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 404
        body = json.loads((await c.get("/v1/models")).content)
        assert "nomic-embed" in {m["id"] for m in body["data"]}


async def _answers(h: object) -> list[tuple[int, str, str, str]]:
    """(status, content-type, x-hydra-route, body) of the same requests, bodies made comparable."""
    out = []
    reqs: list[tuple[str, str, dict[str, object] | None, str | None]] = [
        ("POST", "/v1/chat/completions", {"model": "qwen-8b", "messages": [{"role": "user", "content": "hi"}]}, TOKEN),
        ("POST", "/v1/chat/completions",
         {"model": "qwen-8b", "messages": [{"role": "user", "content": "hi"}], "stream": True}, TOKEN),
        ("POST", "/v1/chat/completions", {"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}, TOKEN),
        ("POST", "/v1/chat/completions", {"model": "qwen-8b", "messages": "nope"}, TOKEN),
        ("POST", "/v1/completions", {"model": "qwen-8b", "prompt": "a", "max_tokens": 2}, None),
        ("GET", "/v1/models", None, TOKEN),
    ]
    for method, path, body, token in reqs:
        async with h.client(token=token) as c:  # type: ignore[attr-defined]
            r = await c.request(method, path, json=body)
        text = re.sub(r'"(id|created)":\s*("[^"]*"|\d+)', "", r.text)  # per-response ids and clocks
        out.append((r.status_code, r.headers.get("content-type", ""), r.headers.get("x-hydra-route", ""), text))
    return out


async def test_hot_paths_ahead_of_fastapi_answer_exactly_as_the_routes_do(bus: Bus) -> None:
    async with gateway_harness(bus, THREE_TIERS[1:2]) as h:
        plain = await _answers(h)
    async with gateway_harness(bus, THREE_TIERS[1:2], hot=True) as h:
        hot = await _answers(h)
        async with h.client() as c:
            assert (await c.get("/ping")).json() == {"pong": "yes"}  # everything else still reaches FastAPI
            assert (await c.get("/metrics")).status_code == 200
    assert [a[0] for a in plain] == [200, 200, 404, 400, 401, 200]
    assert hot == plain


async def test_a_lone_surrogate_is_a_400_naming_the_field(bus: Bus) -> None:
    async with gateway_harness(bus, THREE_TIERS[1:2], hot=True) as h, h.client() as c:
        raw = b'{"model": "qwen-8b", "messages": [{"role": "user", "content": "hi \\ud800 there"}]}'
        r = await c.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["param"] == "messages.0.content" and "surrogate" in err["message"]
        # a surrogate pair (an emoji escaped as JSON does) is text and is served
        raw = b'{"model": "qwen-8b", "messages": [{"role": "user", "content": "hi \\ud83d\\ude00"}]}'
        r = await c.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        assert len(h.backends["mid"].log) == 1


@pytest.mark.parametrize("hot", [True, False])
async def test_one_model_is_retrieved_like_openai(bus: Bus, hot: bool) -> None:
    async with gateway_harness(bus, THREE_TIERS[1:2], hot=hot, aliases={"chat": "qwen-8b"}) as h:
        client = openai.AsyncOpenAI(base_url=h.url + "/v1", api_key=TOKEN, max_retries=0)
        try:
            for name in ("qwen-8b", "qwen", "chat", "hydra/auto"):
                m = await client.models.retrieve(name)
                assert m.id == name and m.object == "model"
            with pytest.raises(openai.NotFoundError) as ei:
                await client.models.retrieve("gpt-9")
            assert ei.value.code == "model_not_found"
        finally:
            await client.close()
        async with h.client(token=None) as c:
            r = await c.get("/v1/models/qwen-8b")
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("stream", [False, True])
async def test_request_ids_and_trace_context_pass_through(bus: Bus, stream: bool) -> None:
    async with gateway_harness(bus, THREE_TIERS[1:2], hot=True) as h, h.client() as c:
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        r = await c.post("/v1/chat/completions", headers={"x-request-id": "client-42", "traceparent": tp},
                         json={"model": "qwen-8b", "messages": [{"role": "user", "content": "hi"}], "stream": stream})
        assert r.status_code == 200
        sent = {k.lower(): v for k, v in h.backends["mid"].log[-1]["headers"].items()}
        assert sent["x-request-id"] == "client-42" and sent["traceparent"] == tp
        # the engine's own request id and rate-limit state come back to the client
        assert r.headers["x-request-id"] == "standin-req-1"
        assert r.headers["x-ratelimit-remaining-requests"] == "99"
