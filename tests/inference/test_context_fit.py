"""The context-length check: a prompt no endpoint can hold is the client's 400 ``context_length_exceeded``
(not 503), and ``max_tokens`` is an upper bound (preferred room, never a reason to refuse)."""

from __future__ import annotations

import pytest

from hydra_os.bus.client import Bus
from tests.inference.gateway_harness import gateway_harness

SMALL = [("a", "m", "fast", {"context_length": 1000}), ("b", "m2", "standard", {"context_length": 2000})]


@pytest.mark.parametrize(("path", "model", "field", "body"), [
    ("/v1/chat/completions", "m", "messages", {"messages": [{"role": "user", "content": "word " * 4000}]}),
    ("/v1/chat/completions", "hydra/auto", "messages", {"messages": [{"role": "user", "content": "word " * 4000}]}),
    ("/v1/completions", "m2", "prompt", {"prompt": "word " * 4000}),
])
async def test_a_prompt_longer_than_every_context_is_a_400(
    bus: Bus, path: str, model: str, field: str, body: dict[str, object]
) -> None:
    async with gateway_harness(bus, SMALL) as h, h.client() as c:
        r = await c.post(path, json={"model": model, **body})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "context_length_exceeded" and err["type"] == "invalid_request_error"
        assert err["param"] == field and ("2000" in err["message"] or "1000" in err["message"])
        assert h.backends["a"].log == [] and h.backends["b"].log == []


async def test_max_tokens_up_to_the_context_is_served_and_roomier_endpoints_are_preferred(bus: Bus) -> None:
    async with gateway_harness(bus, [("a", "m", "fast", {"context_length": 1000}),
                                     ("big", "m", "fast", {"context_length": 100000})]) as h, h.client() as c:
        msg = [{"role": "user", "content": "hello"}]
        # max_tokens = the small endpoint's whole context: the big one has room for it, so it serves
        for i in range(6):
            r = await c.post("/v1/chat/completions", json={"model": "m", "max_tokens": 1000,
                                                            "messages": [{"role": "user", "content": f"q{i}"}]})
            assert r.status_code == 200 and "endpoint=gw.big" in r.headers["x-hydra-route"]
        h.backends["big"].script.append({"status": 500})  # big fails: the small one still serves it
        r = await c.post("/v1/chat/completions", json={"model": "m", "max_tokens": 1000, "messages": msg})
        assert r.status_code == 200, r.text
        assert "endpoint=gw.a" in r.headers["x-hydra-route"]


async def test_max_tokens_equal_to_the_only_context_is_not_refused(bus: Bus) -> None:
    async with gateway_harness(bus, [("a", "m", "fast", {"context_length": 4096})]) as h, h.client() as c:
        r = await c.post("/v1/chat/completions", json={"model": "m", "max_tokens": 4096,
                                                        "messages": [{"role": "user", "content": "hello"}]})
        assert r.status_code == 200, r.text
