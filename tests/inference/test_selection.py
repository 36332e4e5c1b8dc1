"""Endpoint choice, wait queue and cooldown arithmetic, without the network."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from hydra_os.inference.admission import WaitQueue
from hydra_os.inference.endpoint import EndpointInfo
from hydra_os.inference.errors import BusyError, ModelNotFoundError
from hydra_os.inference.health import Cooldowns
from hydra_os.inference.metrics import GatewayMetrics
from hydra_os.inference.router import Router
from hydra_os.inference.selection import NoPick, Pick, Selector, conversation_key
from hydra_os.sections.inference import InferenceConfig


def ep(name: str, **kw: object) -> EndpointInfo:
    base: dict[str, object] = {"id": f"n.{name}", "model": "m", "engine": "openai",
                               "base_url": "http://127.0.0.1:9/v1", "node": "n", "tier": "fast"}
    base.update(kw)
    return EndpointInfo.model_validate(base)


def test_power_of_two_choices_prefers_the_less_loaded() -> None:
    sel = Selector(max_in_flight=8, sticky_entries=10, rng=random.Random(1))
    a, b = ep("a"), ep("b")
    sel.stats_for("n.a").in_flight = 5
    for _ in range(20):
        res = sel.choose([a, b], needed_tokens=10, sticky_key=None)
        assert isinstance(res, Pick) and res.endpoint.id == "n.b"
    # equal in-flight: the lower EWMA latency wins
    sel.stats_for("n.a").in_flight = 0
    sel.stats_for("n.a").observe_ttft(5.0, 0.5)
    sel.stats_for("n.b").observe_ttft(50.0, 0.5)
    res = sel.choose([a, b], needed_tokens=10, sticky_key=None)
    assert isinstance(res, Pick) and res.endpoint.id == "n.a"


def test_with_many_endpoints_load_spreads() -> None:
    sel = Selector(max_in_flight=100, sticky_entries=10, rng=random.Random(7))
    eps = [ep(str(i)) for i in range(6)]
    for _ in range(600):
        res = sel.choose(eps, needed_tokens=1, sticky_key=None)
        assert isinstance(res, Pick)
        sel.stats_for(res.endpoint.id).in_flight += 1
    loads = [sel.stats_for(e.id).in_flight for e in eps]
    assert max(loads) - min(loads) <= 3, loads  # P2C keeps the spread tight


def test_filters_health_cooldown_context_and_busy() -> None:
    sel = Selector(max_in_flight=2, sticky_entries=10)
    down, short, cool, busy = ep("down", health="down"), ep("short", context_length=100), ep("cool"), ep("busy")
    sel.stats_for("n.cool").cooling = True
    sel.stats_for("n.busy").in_flight = 2
    res = sel.choose([down, short, cool, busy], needed_tokens=500, sticky_key=None)
    assert isinstance(res, NoPick) and res.busy
    assert "1 busy" in res.reason and "2 unhealthy/cooling" in res.reason and "context < 500" in res.reason
    res = sel.choose([down, short, cool], needed_tokens=500, sticky_key=None)
    assert isinstance(res, NoPick) and not res.busy
    limited = ep("lim", max_in_flight=1)
    sel.stats_for("n.lim").in_flight = 1
    assert isinstance(sel.choose([limited], needed_tokens=1, sticky_key=None), NoPick)


def test_stickiness_follows_the_conversation_prefix() -> None:
    sel = Selector(max_in_flight=8, sticky_entries=2)
    eps = [ep("a"), ep("b"), ep("c")]
    turn1 = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q1"}]}
    turn2 = {"messages": [*turn1["messages"], {"role": "assistant", "content": "a1"},
                          {"role": "user", "content": "q2"}]}
    key = conversation_key(turn1)
    assert key is not None and key == conversation_key(turn2)
    assert conversation_key({"messages": [{"role": "user", "content": "other"}]}) != key
    first = sel.choose(eps, needed_tokens=1, sticky_key=key)
    assert isinstance(first, Pick)
    for _ in range(10):
        again = sel.choose(eps, needed_tokens=1, sticky_key=key)
        assert isinstance(again, Pick) and again.endpoint.id == first.endpoint.id
        assert again.reason == "same conversation"
    sel.stats_for(first.endpoint.id).cooling = True  # unhealthy: the conversation moves
    moved = sel.choose(eps, needed_tokens=1, sticky_key=key)
    assert isinstance(moved, Pick) and moved.endpoint.id != first.endpoint.id
    # bounded memory
    for i in range(5):
        sel.choose(eps, needed_tokens=1, sticky_key=f"k{i}")
    assert len(sel._sticky) == 2


def test_router_plans() -> None:
    cfg = InferenceConfig.model_validate({"aliases": {"big": "llama"}, "tiers": {"heavy": ["big"]}})
    eps = [ep("f", model="tiny"), ep("s", model="qwen", tier="standard"), ep("h", model="llama", tier="standard"),
           ep("base", model="base", completions_only=True), ep("e", model="emb", embeddings=True)]
    router = Router(cfg, lambda: eps)
    plan = router.plan("chat", {"model": "hydra/auto", "messages": [{"role": "user", "content": "hi"}]})
    assert plan.tier == "fast" and [g.tier for g in plan.groups] == ["fast", "standard", "heavy", None]
    assert [e.id for e in plan.groups[0].endpoints] == ["n.f"]  # base model skipped for auto chat ...
    assert [e.id for e in plan.groups[3].endpoints] == ["n.base"]  # ... but kept as the last resort
    assert [e.id for e in plan.groups[2].endpoints] == ["n.h"]  # heavy mapped by config, through the alias
    plan = router.plan("chat", {"model": "big", "messages": [{"role": "user", "content": "x"}], "max_tokens": 100})
    assert plan.reason == "alias big -> llama" and plan.groups[0].endpoints[0].id == "n.h"
    assert plan.needed_tokens == 1 and plan.wanted_tokens == 101  # max_tokens: room preferred, not needed
    assert router.plan("completions", {"model": "base", "prompt": "x"}).groups[0].endpoints[0].id == "n.base"
    with pytest.raises(ModelNotFoundError):
        router.plan("chat", {"model": "emb", "messages": [{"role": "user", "content": "x"}]})
    assert {"tiny", "qwen", "llama", "big", "emb", "hydra/auto"} <= set(router.model_names())


async def test_wait_queue_is_bounded_and_fifo() -> None:
    q = WaitQueue(size=2, timeout=1.0, retry_after=3)
    w1, w2 = q.join("busy"), q.join("busy")
    with pytest.raises(BusyError) as ei:
        q.join("busy")
    assert ei.value.retry_after == 3 and ei.value.http_status == 429
    order: list[int] = []

    async def wait(i: int, w: object) -> None:
        await q.wait(w, time.monotonic() + 1.0, "busy")  # type: ignore[arg-type]
        order.append(i)

    t = [asyncio.create_task(wait(1, w1)), asyncio.create_task(wait(2, w2))]
    await asyncio.sleep(0.01)
    q.notify()
    await asyncio.gather(*t)
    assert order == [1, 2]
    q.leave(w1)
    with pytest.raises(BusyError, match="stayed busy"):
        await q.wait(w2, time.monotonic() + 0.05, "busy")


async def test_wait_queue_wakes_one_waiter_that_can_use_the_freed_endpoint() -> None:
    q = WaitQueue(size=8, timeout=1.0, retry_after=1)
    only_b, a_or_b, a_too = q.join("busy", ["b"]), q.join("busy", ["a", "b"]), q.join("busy", ["a"])
    woke: list[str] = []

    async def wait(name: str, w: object) -> None:
        await q.wait(w, time.monotonic() + 1.0, "busy")  # type: ignore[arg-type]
        woke.append(name)

    tasks = {n: asyncio.create_task(wait(n, w)) for n, w in
             (("only_b", only_b), ("a_or_b", a_or_b), ("a_too", a_too))}
    await asyncio.sleep(0.01)
    q.notify("a")  # the first waiter that can use "a", and only that one
    await asyncio.sleep(0.01)
    assert woke == ["a_or_b"]
    q.leave(a_or_b)  # it took the slot
    q.notify("b")
    await asyncio.sleep(0.01)
    assert woke == ["a_or_b", "only_b"]
    q.leave(only_b, used=False)  # gave its wake-up back: nobody else can use "b", so nobody wakes
    await asyncio.sleep(0.01)
    assert not tasks["a_too"].done()
    q.notify("a")
    await asyncio.sleep(0.01)
    assert woke == ["a_or_b", "only_b", "a_too"]
    q.leave(a_too)
    late = q.join("busy", ["a"])
    waiting = asyncio.create_task(q.wait(late, time.monotonic() + 1.0, "busy"))
    await asyncio.sleep(0.01)
    q.notify()  # an endpoint came back: everyone retries
    await asyncio.wait_for(waiting, 1.0)


async def test_a_wake_up_given_up_goes_to_the_next_waiter() -> None:
    q = WaitQueue(size=8, timeout=1.0, retry_after=1)
    first, second = q.join("busy", ["a"]), q.join("busy", ["a"])
    t1 = asyncio.create_task(q.wait(first, time.monotonic() + 1.0, "busy"))
    t2 = asyncio.create_task(q.wait(second, time.monotonic() + 1.0, "busy"))
    await asyncio.sleep(0.01)
    q.notify("a")
    await asyncio.sleep(0.01)
    assert t1.done() and not t2.done()
    q.leave(first, used=False)  # its client left before it retried
    await asyncio.wait_for(t2, 1.0)


def test_cooldown_backoff_is_exponential_and_capped() -> None:
    sel = Selector(max_in_flight=1, sticky_entries=1)
    changes: list[tuple[str, bool]] = []
    cd = Cooldowns(sel, GatewayMetrics(), base=0.5, cap=4.0, probe_interval=0.1, probe_timeout=1.0,
                   on_change=lambda ep, cooling: changes.append((ep.id, cooling)))
    assert [cd.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    e = ep("x")
    assert cd.fail(e, "connect", "refused") == 0.5
    assert cd.fail(e, "connect", "refused") == 1.0
    st = sel.stats_for("n.x")
    assert st.cooling and st.failures == 2
    cd.recover(e)
    assert not st.cooling and st.failures == 0
    assert changes == [("n.x", True), ("n.x", False)]
