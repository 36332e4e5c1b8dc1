"""Request faults vs endpoint faults (hydra_os.inference.faults), and non-streamed answers that take long.

A request the engine refuses as invalid goes back to its client and leaves the endpoint in rotation;
only connection errors, timeouts and repeated 5xx cool an endpoint down."""

from __future__ import annotations

import asyncio
import json

import pytest

from hydra_os.bus.client import Bus
from hydra_os.inference.faults import Blame, judge
from tests.inference.gateway_harness import gateway_harness

LLAMA_IMAGE = {"error": {"code": 500, "type": "server_error", "message": "image input is not supported - hint: "
                         "if this is unexpected, you may need to provide the mmproj"}}
LLAMA_CTX = {"error": {"code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 4476, "n_ctx": 4096,
                       "message": "request (4476 tokens) exceeds the available context size (4096 tokens)"}}
LLAMA_501 = {"error": {"code": 501, "type": "not_supported_error", "message": "This server does not support tools"}}
LLAMA_LOADING = {"error": {"code": 503, "type": "unavailable_error", "message": "Loading model"}}
VLLM_OLD_CTX = {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
                "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens"}
VLLM_500_CTX = {"error": {"type": "InternalServerError", "param": None, "code": 500,
                          "message": "The decoder prompt (length 9000) is longer than the maximum model length"}}


@pytest.mark.parametrize(
    ("status", "body", "blame", "context"),
    [
        (500, LLAMA_IMAGE, Blame.REQUEST, False),
        (400, LLAMA_CTX, Blame.REQUEST, True),
        (500, LLAMA_CTX, Blame.REQUEST, True),  # older llama-server: the same error as a 500
        (501, LLAMA_501, Blame.REQUEST, False),
        (400, VLLM_OLD_CTX, Blame.REQUEST, True),
        (500, VLLM_500_CTX, Blame.REQUEST, True),
        (422, {"detail": [{"loc": ["body", "messages"], "msg": "field required"}]}, Blame.REQUEST, False),
        (503, LLAMA_LOADING, Blame.ENDPOINT, False),
        (500, {"error": {"message": "CUDA error: out of memory", "type": "server_error"}}, Blame.ENDPOINT, False),
        (502, "<html>Bad Gateway</html>", Blame.ENDPOINT, False),
        (500, "", Blame.ENDPOINT, False),
        (429, {"error": {"message": "slow down", "type": "rate_limit_error"}}, Blame.BUSY, False),
    ],
)
def test_the_rule(status: int, body: object, blame: Blame, context: bool) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    v = judge(status, raw)
    assert v.blame is blame
    if blame is Blame.REQUEST:
        assert v.context is context
        assert v.message  # the upstream's own words reach the client


IMAGE_MSG = [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                          {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]
TEXT_MSG = [{"role": "user", "content": "What is the capital of France?"}]


async def test_one_client_sending_images_does_not_fail_the_others(bus: Bus) -> None:
    backends = [("text", "m", "fast", {})]  # a text-only llama-server: 500 for an image part
    async with gateway_harness(bus, backends) as h, h.client() as images, h.client() as texts:
        await h.backends["text"]._reset(None)  # type: ignore[arg-type]
        h.backends["text"].defaults["text_only"] = True

        async def image_client() -> list[tuple[int, dict[str, object]]]:
            out = []
            for _ in range(6):
                r = await images.post("/v1/chat/completions", json={"model": "m", "messages": IMAGE_MSG})
                out.append((r.status_code, r.json()))
            return out

        async def text_client() -> list[int]:
            out = []
            for i in range(12):
                msg = [{"role": "user", "content": f"What is the capital of France? ({i})"}]
                out.append((await texts.post("/v1/chat/completions", json={"model": "m", "messages": msg})).status_code)
            return out

        img, txt = await asyncio.gather(image_client(), text_client())
        assert txt == [200] * 12
        for status, body in img:
            assert status == 400
            err = body["error"]
            assert isinstance(err, dict) and "image input is not supported" in err["message"]
            assert err["type"] == "invalid_request_error"
        st = h.gateway.selector.stats["gw.text"]
        assert not st.cooling and st.errors_5xx == 0
        # each image request reached the endpoint once: no retry of a request the endpoint refused
        assert sum(1 for e in h.backends["text"].log if isinstance(e["body"]["messages"][0]["content"], list)) == 6


async def test_a_context_error_as_5xx_becomes_400_context_length_exceeded(bus: Bus) -> None:
    async with gateway_harness(bus, [("a", "m", "fast", {})]) as h, h.client() as c:
        h.backends["a"].script.append({"status": 500, **LLAMA_CTX["error"]})
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": TEXT_MSG})
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["code"] == "context_length_exceeded" and err["param"] == "messages"
        assert "exceeds the available context size" in err["message"]
        assert not h.gateway.selector.stats["gw.a"].cooling


async def test_repeated_5xx_across_requests_cool_the_endpoint_one_does_not(bus: Bus) -> None:
    backends = [("a", "m", "fast", {})]
    async with gateway_harness(bus, backends, router={"cool_after_5xx": 3, "cooldown_base": 30.0}) as h, \
            h.client() as c:
        st = h.gateway.selector.stats_for("gw.a")
        h.backends["a"].script.append({"status": 500})
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": TEXT_MSG})
        assert r.status_code == 503 and "http_5xx" in r.json()["error"]["message"]
        assert not st.cooling  # one 5xx: still in rotation
        assert (await c.post("/v1/chat/completions", json={"model": "m", "messages": TEXT_MSG})).status_code == 200
        assert st.errors_5xx == 0  # a success resets the count
        h.backends["a"].script.extend([{"status": 500}] * 3)
        for _ in range(3):
            await c.post("/v1/chat/completions", json={"model": "m", "messages": TEXT_MSG})
        assert st.cooling  # three in a row: out of rotation until the probe
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": TEXT_MSG})
        assert r.status_code == 503 and "cooling" in r.json()["error"]["message"]


async def test_non_streamed_answers_may_take_longer_than_first_byte_timeout(bus: Bus) -> None:
    router = {"first_byte_timeout": 0.3}  # response_timeout: its default (600 s)
    async with gateway_harness(bus, [("a", "m", "fast", {})], router=router) as h, h.client() as c:
        body = {"model": "m", "messages": TEXT_MSG}
        h.backends["a"].script.append({"body_delay": 1.0})  # headers at once, the body a second later
        r = await c.post("/v1/chat/completions", json=body)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"].startswith("a-t0")
        h.backends["a"].script.append({"delay": 1.0})  # nothing until the whole answer (vLLM, llama-server)
        r = await c.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        assert not h.gateway.selector.stats["gw.a"].cooling
        # streamed: the first byte is still bounded by first_byte_timeout
        h.backends["a"].script.append({"delay": 2.0})
        r = await c.post("/v1/chat/completions", json={**body, "stream": True})
        assert r.status_code == 503 and "timeout" in r.json()["error"]["message"]


async def test_a_non_streamed_answer_past_response_timeout_fails_and_cools(bus: Bus) -> None:
    router = {"first_byte_timeout": 5.0, "response_timeout": 0.5, "cooldown_base": 30.0}
    async with gateway_harness(bus, [("a", "m", "fast", {})], router=router) as h, h.client() as c:
        h.backends["a"].script.append({"body_delay": 3.0})
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": TEXT_MSG})
        assert r.status_code == 503 and "gw.a timeout" in r.json()["error"]["message"]
        st = h.gateway.selector.stats["gw.a"]
        assert st.cooling and st.last_error is not None and "response_timeout" in st.last_error
