"""Through real ``hydra run`` daemons: the openai SDK acceptance check, ``hydra route explain``, and a node
that leaves taking its endpoints with it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.helpers import REPO, DaemonProc, NatsProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e


class Standin:
    def __init__(self, model: str, name: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.standins.openai_server", "--model", model, "--name", name],
            stdout=subprocess.PIPE, cwd=str(REPO),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        assert line.startswith("LISTENING"), line
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def standin() -> Iterator[Standin]:
    s = Standin("qwen3-8b", "sa")
    yield s
    s.stop()


def _config(path: Path, standin_url: str | None, extra: str = "") -> Path:
    eps = ""
    if standin_url:
        eps = (f'[[inference.endpoints]]\nurl = "{standin_url}"\nmodel = "qwen3-8b"\ntier = "standard"\n'
               'context_length = 8192\n')
    path.write_text(f'[node]\nroles = ["gateway"]\n[membership]\nheartbeat_interval = 0.3\ngone_after = 1.2\n'
                    f'[inference]\naliases = {{ chat = "qwen3-8b" }}\n{extra}\n{eps}')
    return path


def test_openai_sdk_through_a_real_daemon_and_route_explain(tmp_path: Path, standin: Standin) -> None:
    cfg = _config(tmp_path / "config.toml", standin.url)
    env = daemon_env(HYDRA_CONFIG=str(cfg))
    d = DaemonProc("gw1", tmp_path / "gw1", env).start()
    try:
        client = openai.OpenAI(base_url=d.api_url + "/v1", api_key=d.token, max_retries=0)
        wait_for(lambda: "qwen3-8b" in {m.id for m in client.models.list()}, 10, what="endpoint announced")
        raw = client.chat.completions.with_raw_response.create(
            model="hydra/auto", messages=[{"role": "user", "content": "Explain how a hash map works."}]
        )
        r = raw.parse()
        assert r.choices[0].message.content and r.choices[0].message.content.startswith("sa-t0")
        assert r.usage is not None and r.usage.total_tokens > 0
        assert "endpoint=gw1.qwen3-8b" in raw.headers["x-hydra-route"]
        chunks = list(client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], stream=True,
        ))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.split()[:2] == ["sa-t0", "sa-t1"]
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=d.api_url + "/v1", api_key="nope", max_retries=0).models.list()
        m = httpx.get(d.api_url + "/metrics", headers={"Authorization": f"Bearer {d.token}"}).text
        assert 'hydra_inference_routed_total{tier="standard"}' in m
        assert "hydra_inference_ttft_seconds_bucket" in m
        # /openapi.json describes the OpenAI routes with the request models the gateway enforces
        spec = httpx.get(d.api_url + "/openapi.json").json()
        chat = spec["paths"]["/v1/chat/completions"]["post"]
        body_schema = chat["requestBody"]["content"]["application/json"]["schema"]
        assert body_schema == {"$ref": "#/components/schemas/ChatRequest"}
        assert "messages" in spec["components"]["schemas"]["ChatRequest"]["required"]
        assert {"/v1/completions", "/v1/embeddings", "/v1/models", "/metrics", "/v1/status"} <= set(spec["paths"])
        # hydra route explain: the same decision, nothing sent
        before = len(httpx.get(standin.url.removesuffix("/v1") + "/_log").json())
        cli_env = {**env, "HYDRA_NODE__STATE_DIR": str(d.state_dir), "HYDRA_NODE__ID": "gw1", "COLUMNS": "300"}
        out = subprocess.run(
            [sys.executable, "-m", "hydra_os", "route", "explain", "Explain how a hash map works."],
            env=cli_env, capture_output=True, text=True, timeout=30, cwd=str(REPO),
        )
        assert out.returncode == 0, out.stderr
        assert "standard" in out.stdout and "gw1.qwen3-8b" in out.stdout and "explain/write ask" in out.stdout
        assert "shipped weights, decided by model" in out.stdout and "reason    model standard p=" in out.stdout
        assert "[bold]" not in out.stdout  # labels are styled, not printed as markup
        assert len(httpx.get(standin.url.removesuffix("/v1") + "/_log").json()) == before
        bad = subprocess.run(
            [sys.executable, "-m", "hydra_os", "route", "explain", "--model", "nope", "hi"],
            env=cli_env, capture_output=True, text=True, timeout=30, cwd=str(REPO),
        )
        assert bad.returncode == 2 and "nope" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        assert d.stop() == 0, d.logs()


def test_a_node_that_leaves_takes_its_endpoints(tmp_path: Path, standin: Standin, nats_proc: NatsProc) -> None:
    a_cfg = _config(tmp_path / "a.toml", standin.url)
    b_cfg = _config(tmp_path / "b.toml", None)
    a = DaemonProc("na", tmp_path / "na", daemon_env(HYDRA_CONFIG=str(a_cfg), HYDRA_BUS__URL=nats_proc.url)).start()
    b = DaemonProc("nb", tmp_path / "nb", daemon_env(HYDRA_CONFIG=str(b_cfg), HYDRA_BUS__URL=nats_proc.url)).start()
    try:
        body = {"model": "qwen3-8b", "messages": [{"role": "user", "content": "hi"}]}
        with b.client() as c:
            wait_for(lambda: c.post("/v1/chat/completions", json=body).status_code == 200, 10,
                     what="node b routes to node a's endpoint")
            assert "endpoint=na.qwen3-8b" in c.post("/v1/chat/completions", json=body).headers["x-hydra-route"]
            a.kill9()
            t0 = time.monotonic()
            wait_for(lambda: c.post("/v1/chat/completions", json=body).status_code == 404, 10,
                     what="node a's endpoint dropped")
            assert time.monotonic() - t0 < 6
    finally:
        a.stop()
        assert b.stop() == 0, b.logs()
