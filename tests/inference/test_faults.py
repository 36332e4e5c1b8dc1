"""Faults over real HTTP: fallback before the first byte, cooldown and probe, wait queue and 429,
client disconnects, broken streams, bounded tries."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from hydra_os.bus.client import Bus
from hydra_os.inference.registry import EndpointRegistry
from tests.helpers import free_port
from tests.inference.gateway_harness import TOKEN, gateway_harness

MSG = [{"role": "user", "content": "What is the capital of France?"}]


def _route(r: httpx.Response) -> dict[str, str]:
    return dict(p.partition("=")[::2] for p in r.headers["x-hydra-route"].split("; ", 3))


async def _until(pred, within: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_connect_error_falls_back_and_cools_down_until_a_probe_succeeds(bus: Bus) -> None:
    dead = {"url": f"http://127.0.0.1:{free_port()}/v1", "model": "m", "tier": "fast", "name": "dead"}
    async with gateway_harness(bus, [("ok", "m", "fast", {})], endpoints_extra=[dead]) as h, h.client() as c:
        gw = h.gateway
        seen_dead = 0
        for i in range(6):  # a new conversation each time (no stickiness): P2C tries the dead one soon
            msg = [{"role": "user", "content": f"question {i}"}]
            r = await c.post("/v1/chat/completions", json={"model": "m", "messages": msg})
            assert r.status_code == 200, r.text
            assert _route(r)["endpoint"] == "gw.ok"
            if "gw.dead connect" in _route(r)["reason"]:
                seen_dead += 1
        assert seen_dead == 1  # tried once, then out of rotation
        st = gw.selector.stats["gw.dead"]
        assert st.cooling and st.last_error is not None
        # the probe keeps failing: backoff doubles, capped
        first = st.failures
        await _until(lambda: st.failures >= first + 2, within=3.0)
        assert st.cooling
        m = (await c.get("/metrics")).text
        assert 'hydra_inference_cooldowns_total{endpoint="gw.dead",model="m"} 1.0' in m
        assert 'hydra_inference_errors_total{endpoint="gw.dead",kind="connect",model="m"} 1.0' in m
        assert 'hydra_inference_cooling{endpoint="gw.dead",model="m"} 1.0' in m


async def test_5xx_then_recovery_through_the_probe_not_a_user_request(bus: Bus) -> None:
    backends = [("a", "m", "fast", {}), ("b", "m", "fast", {})]
    async with gateway_harness(bus, backends, router={"cooldown_base": 1.0, "cool_after_5xx": 1}) as h, \
            h.client() as c, \
            EndpointRegistry(bus, "other-gateway", refresh_interval=0.5, gone_after=2.0) as other:
        await _until(lambda: (e := other.get("gw.a")) is not None and e.health == "healthy")
        h.backends["a"].script.extend([{"status": 503}])
        h.backends["b"].script.extend([{"status": 500}])
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        # both failed once: no endpoint left in the only group
        assert r.status_code == 503, r.text
        err = r.json()["error"]
        assert err["code"] == "no_endpoint_available" and "http_5xx" in err["message"]
        assert h.gateway.selector.stats["gw.a"].cooling and h.gateway.selector.stats["gw.b"].cooling
        # other gateways learn it from the announcement at once
        await _until(lambda: (e := other.get("gw.a")) is not None and e.health == "down", within=1.0)
        # while cooling, user requests are refused without touching the endpoints
        n_a, n_b = h.served_by("a"), h.served_by("b")
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert r.status_code == 503 and "cooling" in r.json()["error"]["message"]
        assert (h.served_by("a"), h.served_by("b")) == (n_a, n_b)
        # the probe (GET /models) brings them back
        await _until(lambda: not h.gateway.selector.stats["gw.a"].cooling, within=3.0)
        await _until(lambda: (e := other.get("gw.a")) is not None and e.health == "healthy", within=1.0)
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert r.status_code == 200
        ep = _route(r)["endpoint"]
        await _until(lambda: (e := other.get(ep)) is not None and e.ewma_latency_ms is not None)


async def test_timeout_before_first_byte_falls_back_then_next_tier(bus: Bus) -> None:
    backends = [("slow", "fast-m", "fast", {}), ("std", "std-m", "standard", {})]
    async with gateway_harness(bus, backends, router={"first_byte_timeout": 0.3}) as h, h.client() as c:
        h.backends["slow"].script.append({"delay": 5.0})
        body = {"model": "hydra/auto", "messages": MSG, "stream": True}
        t0 = time.monotonic()
        async with c.stream("POST", "/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            text = (await r.aread()).decode()
        assert time.monotonic() - t0 < 4.0  # did not wait for the slow endpoint
        route = _route(r)
        assert route["tier"] == "standard" and route["endpoint"] == "gw.std"
        assert "gw.slow timeout" in route["reason"]
        assert "std-t0" in text and text.rstrip().endswith("data: [DONE]")


async def test_bounded_tries(bus: Bus) -> None:
    backends = [(f"e{i}", "m", "fast", {}) for i in range(4)]
    async with gateway_harness(bus, backends, router={"max_tries": 2}) as h, h.client() as c:
        for name in h.backends:
            h.backends[name].script.append({"status": 502})
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert r.status_code == 503 and "within 2 tries" in r.json()["error"]["message"]
        assert sum(h.served_by(n) for n in h.backends) == 2


async def test_dropped_connection_before_first_byte_falls_back(bus: Bus) -> None:
    backends = [("a", "m", "fast", {}), ("b", "m", "fast", {})]
    async with gateway_harness(bus, backends) as h, h.client() as c:
        for name in h.backends:
            h.backends[name].script.append({"drop": True})
        h.backends["a"].script.append({})
        h.backends["b"].script.append({})
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert r.status_code == 503  # both dropped: each tried once, both cooling
        assert "protocol" in r.json()["error"]["message"]


async def test_wait_queue_then_429_with_retry_after(bus: Bus) -> None:
    router = {"max_in_flight": 1, "queue_size": 1, "queue_timeout": 5.0, "retry_after": 7}
    async with gateway_harness(bus, [("one", "m", "fast", {})], router=router) as h, h.client() as c:
        h.backends["one"].defaults.update({"tokens": 6, "token_interval": 0.1})
        body = {"model": "m", "messages": MSG, "stream": True}

        async def stream_all() -> str:
            async with c.stream("POST", "/v1/chat/completions", json=body) as r:
                assert r.status_code == 200
                return (await r.aread()).decode()

        first = asyncio.create_task(stream_all())
        await _until(lambda: h.gateway.selector.stats.get("gw.one") is not None
                     and h.gateway.selector.stats["gw.one"].in_flight == 1)
        second = asyncio.create_task(stream_all())  # waits in the queue
        await _until(lambda: len(h.gateway.queue) == 1)
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        assert r.json()["error"]["type"] == "rate_limit_error"
        assert "one-t5" in await first and "one-t5" in await second  # the waiter was served after the first
        assert len(h.backends["one"].log) == 2
    router = {"max_in_flight": 1, "queue_size": 4, "queue_timeout": 0.3}
    async with gateway_harness(bus, [("one", "m", "fast", {})], router=router) as h, h.client() as c:
        h.backends["one"].defaults.update({"tokens": 3, "token_interval": 0.5})
        body = {"model": "m", "messages": MSG, "stream": True}
        first = asyncio.create_task(c.post("/v1/chat/completions", json=body))
        await _until(lambda: h.gateway.selector.stats.get("gw.one") is not None
                     and h.gateway.selector.stats["gw.one"].in_flight == 1)
        t0 = time.monotonic()
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert r.status_code == 429 and "stayed busy" in r.json()["error"]["message"]
        assert 0.25 < time.monotonic() - t0 < 3.0
        assert (await first).status_code == 200


async def test_client_disconnect_mid_stream_cancels_upstream(bus: Bus) -> None:
    async with gateway_harness(bus, [("one", "m", "fast", {})]) as h, h.client() as c:
        h.backends["one"].defaults.update({"tokens": 100, "token_interval": 0.2})
        body = {"model": "m", "messages": MSG, "stream": True}
        async with c.stream("POST", "/v1/chat/completions", json=body) as r:
            async for line in r.aiter_lines():
                if "one-t1" in line:
                    break  # leave after two tokens
        entry = h.backends["one"].log[-1]
        await _until(lambda: entry["cancelled"], within=3.0)
        assert not entry["finished"]
        await _until(lambda: h.gateway.selector.stats["gw.one"].in_flight == 0)


async def test_stream_broken_after_first_byte_reports_an_error_event(bus: Bus) -> None:
    async with gateway_harness(bus, [("one", "m", "fast", {})]) as h, h.client() as c:
        h.backends["one"].script.append({"die_after": 2})
        body = {"model": "m", "messages": MSG, "stream": True}
        async with c.stream("POST", "/v1/chat/completions", json=body) as r:
            text = (await r.aread()).decode()
        assert "one-t1" in text and "upstream_failed" in text and "[DONE]" not in text
        assert h.gateway.selector.stats["gw.one"].cooling


async def test_a_stalled_stream_is_cut_after_read_timeout(bus: Bus) -> None:
    async with gateway_harness(bus, [("one", "m", "fast", {})], router={"read_timeout": 0.4}) as h, h.client() as c:
        h.backends["one"].script.append({"stall_after": 2})
        body = {"model": "m", "messages": MSG, "stream": True}
        t0 = time.monotonic()
        async with c.stream("POST", "/v1/chat/completions", json=body) as r:
            text = (await r.aread()).decode()
        assert 0.4 <= time.monotonic() - t0 < 3.0
        assert "one-t1" in text and "sent nothing for 0.4s" in text and "[DONE]" not in text
        await _until(lambda: h.backends["one"].log[-1]["cancelled"])  # the upstream connection was closed
        assert h.gateway.selector.stats["gw.one"].cooling and h.gateway.selector.stats["gw.one"].in_flight == 0
        assert 'kind="stalled"' in (await c.get("/metrics")).text


async def test_a_client_gone_before_the_first_chunk_releases_the_endpoint(bus: Bus) -> None:
    async with gateway_harness(bus, [("one", "m", "fast", {})]) as h:
        h.backends["one"].defaults.update({"tokens": 100, "token_interval": 0.2})
        port = int(h.url.rsplit(":", 1)[1])
        payload = json.dumps({"model": "m", "messages": MSG, "stream": True}).encode()
        for _ in range(3):  # send the request and leave at once: the relay may never be asked for a chunk
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         + f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
                         + payload)
            await writer.drain()
            writer.transport.abort()
        await _until(lambda: len(h.backends["one"].log) == 3)
        await _until(lambda: all(e["cancelled"] for e in h.backends["one"].log))
        await _until(lambda: h.gateway.selector.stats["gw.one"].in_flight == 0)


async def test_stickiness_and_context_length(bus: Bus) -> None:
    backends = [("a", "m", "fast", {"context_length": 100000}), ("b", "m", "fast", {"context_length": 100000}),
                ("tiny", "m", "fast", {"context_length": 50})]
    async with gateway_harness(bus, backends) as h, h.client() as c:
        # the system prompt alone (~75 tokens) is too long for "tiny", so the conversation lives on a or b
        convo = [{"role": "system", "content": "be brief " * 33}, {"role": "user", "content": "Tell me about owls."}]
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": convo})
        home = _route(r)["endpoint"]
        for turn in range(8):
            convo += [{"role": "assistant", "content": f"answer {turn}"}, {"role": "user", "content": f"more {turn}"}]
            r = await c.post("/v1/chat/completions", json={"model": "m", "messages": convo})
            assert _route(r)["endpoint"] == home and "same conversation" in _route(r)["reason"]
        # the home endpoint fails: the conversation moves, and stays on its new home
        h.backends[home.split(".")[1]].script.append({"status": 500})
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": convo})
        new_home = _route(r)["endpoint"]
        assert r.status_code == 200 and new_home != home
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": convo})
        assert _route(r)["endpoint"] == new_home
        assert h.backends["tiny"].log == []
        # short prompts do reach "tiny" (it is in rotation); longer ones than its context never do
        for i in range(12):
            long = [{"role": "user", "content": f"word {i} " * 200}]  # ~400 tokens
            r = await c.post("/v1/chat/completions", json={"model": "m", "messages": long})
            assert _route(r)["endpoint"] != "gw.tiny"
            short = [{"role": "user", "content": f"hi {i}"}]
            await c.post("/v1/chat/completions", json={"model": "m", "messages": short})
        assert h.backends["tiny"].log, "tiny never served a short prompt"
        assert all(len(e["body"]["messages"][0]["content"]) < 20 for e in h.backends["tiny"].log)
