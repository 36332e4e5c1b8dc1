"""hydra/assistant through real ``hydra run`` daemons and the official openai SDK, against a stand-in
engine that records what it received: memory goes into the system message (merged with the client's
own), the exchange comes back out into memory (streamed and not), preferences said in passing reach later
chats, feedback is a learning; memory down is a plain relay with a warning header; no model up is a
quotation of memory, through the gateway and through ``hydra ask``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import openai
import pytest
from nats.aio.msg import Msg

from memory.conversation import MEMORY_INTRO
from tests.helpers import REPO, DaemonProc, NatsProc, daemon_env, wait_for
from tests.inference.test_gateway_e2e import Standin, _config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
MEM_ENV = {"HYDRA_MEMORY__EMBED__BACKEND": "hashing"}  # real stores, the no-download test embedder


def _log(standin: Standin) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = httpx.get(standin.url.removesuffix("/v1") + "/_log").json()
    return out


def _memory_up(d: DaemonProc) -> bool:
    with d.client() as c:
        return c.post("/v1/memory/context", json={"query": "ping"}).status_code == 200


def _sessions(d: DaemonProc, q: str) -> list[tuple[str | None, str | None, str]]:
    with d.client() as c:
        hits = c.get("/v1/memory/search", params={"q": q, "limit": 20}).json()
    return [(h["passage"]["session"], h["passage"]["role"], h["passage"]["text"]) for h in hits]


def _preferences(d: DaemonProc) -> str:
    with d.client() as c:
        items = c.post("/v1/memory/context", json={"query": "x"}).json()["items"]
    return str(next(i["text"] for i in items if i["id"] == "core:preferences"))


def _start(tmp_path: Path, name: str, roles: str, standin_url: str | None) -> DaemonProc:
    cfg = _config(tmp_path / f"{name}.toml", standin_url)
    env = daemon_env(HYDRA_CONFIG=str(cfg), HYDRA_NODE__ROLES=roles, **MEM_ENV)
    return DaemonProc(name, tmp_path / name, env).start(timeout=60)


@pytest.fixture
def standin() -> Any:
    s = Standin("qwen3-8b", "sa")
    yield s
    s.stop()


def test_memory_in_and_out_through_hydra_assistant(tmp_path: Path, standin: Standin) -> None:
    d = _start(tmp_path, "m1", "gateway,memory", standin.url)
    try:
        wait_for(lambda: _memory_up(d), 60, what="memory serving")
        client = openai.OpenAI(base_url=d.api_url + "/v1", api_key=d.token, max_retries=0)
        names = {m.id for m in client.models.list()}
        assert "hydra/assistant" in names
        with d.client() as c:
            r = c.post("/v1/memory/remember", json={"text": "The NAS runs an 8TB WD Red disk since March."})
            assert r.status_code == 200, r.text

        raw = client.chat.completions.with_raw_response.create(
            model="hydra/assistant",
            messages=[{"role": "system", "content": "You are terse."},
                      {"role": "user", "content": "Which disk is in the NAS?"}],
            extra_headers={"x-hydra-conversation": "conv-e2e-1"},
        )
        answer = raw.parse().choices[0].message.content
        assert answer is not None and answer.startswith("sa-t0")
        sent = _log(standin)[-1]["body"]
        assert sent["model"] == "qwen3-8b" and len(sent["messages"]) == 2
        system = sent["messages"][0]["content"]
        assert system.startswith("You are terse.\n\n" + MEMORY_INTRO)  # merged with the client's own prompt
        assert "8TB WD Red" in system and "<memory_blocks>" in system
        mem = raw.headers["x-hydra-memory"]
        assert mem.startswith("ids=core:persona,") and "passage:" in mem and "tokens=" in mem
        assert raw.headers["x-hydra-conversation"] == "conv-e2e-1"
        assert "endpoint=m1.qwen3-8b" in raw.headers["x-hydra-route"]
        wait_for(lambda: ("conv-e2e-1", "user", "Which disk is in the NAS?") in _sessions(d, "Which disk NAS"),
                 30, what="the exchange archived with its conversation id")

        # streamed, conversation from the `user` field; a preference said in passing is kept
        stream = client.chat.completions.create(
            model="hydra/assistant", user="alice", stream=True,
            messages=[{"role": "user", "content": "I prefer metric units. How far is a 10k run?"}],
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.startswith("sa-t0 sa-t1")
        wait_for(lambda: "units: metric" in _preferences(d), 30, what="the preference kept")
        wait_for(lambda: any(s == "user:alice" and r == "user" for s, r, _ in _sessions(d, "10k run metric")),
                 30, what="the streamed exchange archived")
        client.chat.completions.create(model="hydra/assistant", messages=[{"role": "user", "content": "Lyon?"}])
        assert "units: metric" in _log(standin)[-1]["body"]["messages"][0]["content"]  # a later chat carries it

        # a plain model name stays raw: nothing injected, no memory header
        raw2 = client.chat.completions.with_raw_response.create(
            model="qwen3-8b", messages=[{"role": "user", "content": "Which disk is in the NAS?"}])
        assert "x-hydra-memory" not in raw2.headers
        assert _log(standin)[-1]["body"]["messages"] == [{"role": "user", "content": "Which disk is in the NAS?"}]

        with d.client() as c:  # feedback on that answer: a learning tied to the conversation
            fb = c.post("/v1/feedback", json={"conversation": "conv-e2e-1", "rating": "down",
                                              "response_id": raw.parse().id, "comment": "too long"})
            assert fb.status_code == 200, fb.text
            assert "conversation:conv-e2e-1" in fb.json()["tags"]
            bad = c.post("/v1/feedback", json={"conversation": "conv-e2e-1", "rating": "meh"})
            assert bad.status_code == 422 and "rating" in bad.text
            m = c.get("/metrics").text
        cli_env = {**d.env, "HYDRA_NODE__STATE_DIR": str(d.state_dir), "HYDRA_NODE__ID": "m1"}
        out = subprocess.run([sys.executable, "-m", "hydra_os", "feedback", "conv-e2e-1", "up", "--comment",
                              "exactly the disk I meant"], env=cli_env, capture_output=True, text=True, timeout=60,
                             cwd=str(REPO))
        assert out.returncode == 0 and "Kept as learning L-0002" in out.stdout, out.stdout + out.stderr
        bad = subprocess.run([sys.executable, "-m", "hydra_os", "feedback", "conv-e2e-1", "meh"], env=cli_env,
                             capture_output=True, text=True, timeout=60, cwd=str(REPO))
        assert bad.returncode == 2 and "meh" in bad.stderr
        assert 'hydra_memory_chat_total{outcome="injected"}' in m
        assert 'hydra_memory_chat_total{outcome="archived"}' in m
    finally:
        assert d.stop() == 0, d.logs()


def test_memory_down_is_a_plain_relay_with_a_warning(tmp_path: Path, standin: Standin, nats_proc: NatsProc) -> None:
    cfg = _config(tmp_path / "g1.toml", standin.url)
    env = daemon_env(HYDRA_CONFIG=str(cfg), HYDRA_NODE__ROLES="gateway", HYDRA_BUS__URL=nats_proc.url, **MEM_ENV)
    d = DaemonProc("g1", tmp_path / "g1", env).start(timeout=60)  # no memory node on this bus
    try:
        client = openai.OpenAI(base_url=d.api_url + "/v1", api_key=d.token, max_retries=0)
        wait_for(lambda: "qwen3-8b" in {m.id for m in client.models.list()}, 10, what="endpoint announced")
        msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}]
        raw = client.chat.completions.with_raw_response.create(model="hydra/assistant", messages=msgs)  # type: ignore[arg-type]
        assert (raw.parse().choices[0].message.content or "").startswith("sa-t0")
        assert raw.headers["x-hydra-memory"].startswith("unavailable; reason=MemoryUnavailableError")
        assert _log(standin)[-1]["body"]["messages"] == msgs  # relayed as sent
        chunks = list(client.chat.completions.create(model="hydra/assistant", messages=msgs, stream=True))  # type: ignore[arg-type]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("sa-t0")

        async def ignore(_msg: Msg) -> None:
            return None

        async def hung() -> str:  # a memory service that takes requests and never answers
            nc = await nats.connect(nats_proc.url)
            try:
                await nc.subscribe("hydra.memory.>", cb=ignore)
                await nc.flush()
                raw = await asyncio.to_thread(client.chat.completions.with_raw_response.create,
                                              model="hydra/assistant", messages=msgs)
                assert (raw.parse().choices[0].message.content or "").startswith("sa-t0")
                return str(raw.headers["x-hydra-memory"])
            finally:
                await nc.close()

        assert asyncio.run(hung()) == "unavailable; reason=timeout"  # bounded by deadline_ms, not the bus timeout
    finally:
        assert d.stop() == 0, d.logs()


def test_no_model_answers_from_memory_by_quoting(tmp_path: Path) -> None:
    d = _start(tmp_path, "q1", "gateway,memory", None)  # the default install: no chat model
    try:
        wait_for(lambda: _memory_up(d), 60, what="memory serving")
        with d.client() as c:
            r = c.post("/v1/memory/remember", json={"text": "I replaced the failing disk in the NAS with a WD Red."})
            assert r.status_code == 200, r.text
            c.post("/v1/memory/remember", json={"text": "The garden needs watering on Sundays."})
        client = openai.OpenAI(base_url=d.api_url + "/v1", api_key=d.token, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="hydra/assistant", messages=[{"role": "user", "content": "When did I replace the disk?"}])
        content = raw.parse().choices[0].message.content or ""
        today = f"{datetime.now(UTC):%Y-%m-%d}"
        assert "quoting memory" in content and today in content
        assert "I replaced the failing disk in the NAS with a WD Red." in content
        assert "passage:" in raw.headers["x-hydra-memory"]
        question = [{"role": "user", "content": "When did I replace the disk?"}]
        chunks = list(client.chat.completions.create(model="hydra/assistant", stream=True, messages=question))  # type: ignore[arg-type]
        assert "WD Red" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        with pytest.raises(openai.InternalServerError):  # a raw model name still says no model (503)
            client.chat.completions.create(model="hydra/auto", messages=[{"role": "user", "content": "x"}])
        cli_env = {**d.env, "HYDRA_NODE__STATE_DIR": str(d.state_dir), "HYDRA_NODE__ID": "q1"}
        out = subprocess.run([sys.executable, "-m", "hydra_os", "ask", "when did I replace the disk?", "--json"],
                             env=cli_env, capture_output=True, text=True, timeout=60, cwd=str(REPO))
        assert out.returncode == 0, out.stderr
        assert "quoting memory" in out.stdout and "WD Red" in out.stdout and today in out.stdout
        # a turn that states something is kept with no model too, as `hydra ask` keeps it (owner trial #8)
        client.chat.completions.create(model="hydra/assistant",
                                       messages=[{"role": "user", "content": "I prefer metric units"}])
        wait_for(lambda: "units: metric" in _preferences(d), 30, what="units: metric in the preferences")
        client.chat.completions.create(model="hydra/assistant",
                                       messages=[{"role": "user", "content": "I prefer imperial units now"}])
        wait_for(lambda: "units: imperial" in _preferences(d), 30, what="units: imperial in the preferences")
        assert "units: metric" not in _preferences(d)
        assert ("user", "I prefer imperial units now") in [(r, t) for _, r, t in _sessions(d, "imperial units")]
    finally:
        assert d.stop() == 0, d.logs()
