"""Learning from use: hydra/auto decisions and the owner's overrides are recorded by a real gateway,
counted by ``hydra route stats`` and learned from by ``hydra route retrain``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hydra_os.bus.client import Bus
from hydra_os.inference.auto_classifier import AutoClassifier, state_weights
from hydra_os.inference.errors import BadRequestError
from hydra_os.inference.route_log import (
    RouteLog,
    labelled_from_records,
    read_records,
    records_path,
    stats,
)
from hydra_os.inference.route_model import FitConfig
from hydra_os.inference.route_train import train, write_weights
from tests.helpers import REPO, daemon_env
from tests.inference.gateway_harness import gateway_harness
from tests.inference.test_gateway import THREE_TIERS, _route


def _hydra(args: list[str], state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = daemon_env(HYDRA_NODE__STATE_DIR=str(state_dir))
    return subprocess.run([sys.executable, "-m", "hydra_os", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600, check=False)


async def test_a_retry_with_a_larger_model_is_recorded_as_an_override(bus: Bus, tmp_path: Path) -> None:
    async with gateway_harness(bus, THREE_TIERS, state_dir=tmp_path, tiers={"heavy": ["llama-70b"]}) as h, \
            h.client() as c:
        first = [{"role": "user", "content": "what port does grafana listen on?"}]
        r = await c.post("/v1/chat/completions", json={"model": "hydra/auto", "messages": first})
        auto_tier = _route(r.headers)["tier"]
        assert r.status_code == 200 and auto_tier != "heavy"
        # the same turn again, naming the heavy model: the owner did not like the answer
        r = await c.post("/v1/chat/completions", json={"model": "llama-70b", "messages": first})
        assert r.status_code == 200 and _route(r.headers)["tier"] == "heavy"
        # a named request in a conversation hydra/auto never saw is not an override
        other = [{"role": "user", "content": "hello"}]
        await c.post("/v1/chat/completions", json={"model": "llama-70b", "messages": other})
        assert h.gateway.route_log is not None
        await h.gateway.route_log.flush()
    recs = list(read_records(tmp_path))
    assert records_path(tmp_path).stat().st_mode & 0o777 == 0o600  # prompt text: owner-only
    assert [r["event"] for r in recs] == ["auto", "override"]
    assert recs[0]["id"] == recs[1]["id"] and recs[0]["text"] == "what port does grafana listen on?"
    assert recs[1]["from"] == auto_tier and recs[1]["to"] == "heavy" and recs[1]["model"] == "llama-70b"
    st = stats(iter(recs))
    assert st[auto_tier].routed == 1 and st[auto_tier].overridden_up == 1 and st[auto_tier].override_rate == 1.0
    assert labelled_from_records(iter(recs)) == [
        {"id": f"rec-{recs[0]['id']}", "tier": "heavy", "prompt": "what port does grafana listen on?"}]


async def test_the_gateway_switches_to_retrained_weights_without_a_restart(bus: Bus, tmp_path: Path) -> None:
    body = {"model": "hydra/auto", "messages": [{"role": "user", "content": "zebra my chapter summaries"}]}
    async with gateway_harness(bus, THREE_TIERS, state_dir=tmp_path, weights_interval=0.05) as h, \
            h.client() as c:
        out = h.gateway.explain(body)
        assert out["weights"] == "shipped" and out["decided_by"] == "model" and set(out["probs"]) == {
            "fast", "standard", "heavy"}
        toy = [{"tier": "heavy", "prompt": "zebra my notes and timeline"},
               {"tier": "heavy", "prompt": "zebra the budget sheets please"},
               {"tier": "fast", "prompt": "hi there"}, {"tier": "fast", "prompt": "thanks a lot"},
               {"tier": "standard", "prompt": "explain what a flake is"},
               {"tier": "standard", "prompt": "explain how a hash map works"}]
        write_weights(train(toy, FitConfig(iterations=300)), state_weights(tmp_path))
        async with asyncio.timeout(30):  # the watcher looks every 0.05 s
            while h.gateway.explain(body)["weights"] != "state":  # noqa: ASYNC110 (a file the gateway polls)
                await asyncio.sleep(0.05)
        r = await c.post("/v1/chat/completions", json=body)
        route = _route(r.headers)
        assert route["tier"] == "heavy" and route["reason"].startswith("model heavy p=")
        assert "'zebra'" in route["reason"]  # the feature that decided, in the header


async def test_feedback_on_an_answer_by_its_turn_header(bus: Bus, tmp_path: Path) -> None:
    async with gateway_harness(bus, THREE_TIERS, state_dir=tmp_path) as h, h.client() as c:
        body = {"model": "hydra/auto", "messages": [{"role": "user", "content": "what port does ssh use"}]}
        r = await c.post("/v1/chat/completions", json=body)
        turn = r.headers["x-hydra-turn"]
        chosen = _route(r.headers)["tier"]
        r = await c.post("/v1/chat/completions", json={**body, "stream": True})
        assert r.headers["x-hydra-turn"] == turn  # the same turn, streamed: the same handle
        feedback = h.gateway.rpc_handlers()["route-feedback"]  # the node RPC verb, params as sent on the bus
        out = await feedback({"turn": turn, "tier": "heavy"})
        assert out == {"recorded": True, "turn": turn, "was": chosen, "tier": "heavy"}
        for bad, param in (({"turn": "x", "tier": "heavy"}, "turn"), ({"turn": turn, "tier": "huge"}, "tier")):
            with pytest.raises(BadRequestError) as e:
                await feedback(bad)
            assert e.value.param == param
        named = await c.post("/v1/chat/completions", json={**body, "model": "gemma-small"})
        assert "x-hydra-turn" not in named.headers  # only hydra/auto answers get one
        assert h.gateway.route_log is not None
        await h.gateway.route_log.flush()
    recs = list(read_records(tmp_path))
    assert recs[-1] == {**recs[-1], "event": "feedback", "id": turn, "from": chosen, "to": "heavy"}
    assert stats(iter(recs))[chosen].overridden_up == 1


async def test_route_explain_names_the_bad_field(bus: Bus, tmp_path: Path) -> None:
    async with gateway_harness(bus, THREE_TIERS, state_dir=tmp_path) as h:
        explain = h.gateway.rpc_handlers()["route-explain"]
        body = {"model": "hydra/auto", "messages": [{"role": "user", "content": "what port does ssh use"}]}
        assert (await explain({"body": body}))["model"] == "hydra/auto"
        for bad, param in (({"body": body, "kind": "images"}, "kind"), ({"kind": "chat"}, "body"),
                           ({"body": {**body, "messages": [{"role": "owner"}]}}, "messages.0.role")):
            with pytest.raises(BadRequestError) as e:
                await explain(bad)
            assert e.value.param == param, e.value


async def test_records_off_writes_nothing(bus: Bus, tmp_path: Path) -> None:
    async with gateway_harness(bus, THREE_TIERS, state_dir=tmp_path, router={"route_records": False}) as h, \
            h.client() as c:
        r = await c.post("/v1/chat/completions", json={"model": "hydra/auto",
                                                        "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200 and h.gateway.route_log is None
    assert not records_path(tmp_path).exists()


async def test_the_log_rotates_and_survives_a_torn_line(tmp_path: Path) -> None:
    log = RouteLog(records_path(tmp_path), max_bytes=200)
    for i in range(5):
        log.auto("conv", f"question {i} " + "x" * 100, "fast", "model")
        await log.flush()
    with records_path(tmp_path).open("a") as f:
        f.write('{"event": "auto", "id": "torn"')  # a crash mid-write
    assert records_path(tmp_path).with_name("routes.jsonl.1").exists()
    recs = list(read_records(tmp_path))
    assert 2 <= len(recs) < 5 and all(r["event"] == "auto" for r in recs)  # bounded, torn line skipped
    # an override after the window is not one
    log = RouteLog(records_path(tmp_path), override_window=0.0)
    log.auto("c", "q", "fast", "model")
    assert not log.named("c", "q", "heavy", "big")


@pytest.mark.timeout(900)  # a real training run; the test box is shared
def test_stats_and_retrain_commands_learn_from_overrides(tmp_path: Path) -> None:
    prompt = "zorblax the quenfrith manifold"  # words no shipped prompt has
    recs = [
        {"event": "auto", "id": "a1", "t": 1.0, "tier": "fast", "by": "model", "text": prompt},
        {"event": "override", "id": "a1", "t": 2.0, "from": "fast", "to": "heavy", "model": "llama-70b"},
        {"event": "auto", "id": "a2", "t": 3.0, "tier": "standard", "by": "model", "text": "explain zfs"},
        {"event": "auto", "id": "a3", "t": 4.0, "tier": "heavy", "by": "model", "text": "design my network"},
        {"event": "feedback", "id": "a3", "t": 5.0, "from": "heavy", "to": "standard"},
        {"event": "auto", "id": "a4", "t": 6.0, "tier": "fast", "by": "model", "text": prompt + " again"},
        {"event": "override", "id": "a4", "t": 7.0, "from": "fast", "to": "heavy", "model": "llama-70b"},
    ]
    records_path(tmp_path).parent.mkdir(parents=True)
    records_path(tmp_path).write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = _hydra(["route", "stats", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"fast": {"routed": 2, "overridden_up": 2, "overridden_down": 0},
                                    "standard": {"routed": 1, "overridden_up": 0, "overridden_down": 0},
                                    "heavy": {"routed": 1, "overridden_up": 0, "overridden_down": 1}}
    assert not state_weights(tmp_path).exists()
    r = _hydra(["route", "retrain"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "(3 from overrides)" in r.stdout
    retrained = AutoClassifier.load(tmp_path)
    assert retrained.source == "state"  # the router prefers the retrained weights
    assert "w:zorblax" in retrained.model.terms if retrained.model else False
    assert "w:zorblax" not in AutoClassifier.load(None).model.terms  # type: ignore[union-attr]
