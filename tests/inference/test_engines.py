"""Engines against stand-in engine executables that parse the real CLIs' arguments (real processes,
real HTTP): argv, readiness, in-flight from metrics, SIGTERM / SIGKILL stops, systemd units, Ollama."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from hydra_os.inference.endpoint import EndpointInfo
from hydra_os.inference.engines import Launch, engine_for
from hydra_os.inference.engines.errors import EngineStartError
from hydra_os.inference.engines.ollama import OllamaDiscovery
from hydra_os.inference.engines.runner import ProcessRunner, SystemdRunner
from hydra_os.inference.engines.supervisor import ModelRun
from hydra_os.inference.engines.tabbyapi import tabby_config
from hydra_os.inference.vram import Placement
from hydra_os.sections.models import ModelSpec, OllamaSource
from tests.helpers import free_port
from tests.standins.engines.fixtures import HERE, cmd


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5, trust_env=False) as c:
        yield c


def _launch(tmp_path: Path, spec: ModelSpec, *, gpus: tuple[int, ...] = (0,), frac: float | None = 0.5,
            command: list[str] | None = None) -> Launch:
    return Launch(spec, "127.0.0.1", free_port(), tmp_path / "engines" / spec.id, gpus, frac,
                  tuple(command or cmd({"vllm": "vllm", "llama-server": "llama-server",
                                        "tabbyapi": "tabbyapi_main.py"}[spec.engine])))


def _run(launch: Launch, http: httpx.AsyncClient, env: dict[str, str] | None = None) -> ModelRun:
    engine = engine_for(launch.spec.engine)
    runner = ProcessRunner(engine.argv(launch), env={**engine.env(launch), **(env or {})},
                           cwd=engine.cwd(launch), log_path=launch.workdir / "engine.log")
    base = f"http://127.0.0.1:{launch.port}"
    return ModelRun(engine, runner, launch, Placement(launch.gpu_indices, 1000, launch.gpu_fraction),
                    probe_base=base, announce_base=base, http=http)


def test_engines_get_a_writable_home_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the NixOS unit (DynamicUser) there is no home: the module's HOME/XDG_CACHE_HOME/HF_HOME are
    passed on; without them everything goes under <state_dir>/engines, created before the start."""
    spec = ModelSpec(id="m", engine="vllm", repo="org/m")
    launch = Launch(spec, "127.0.0.1", 8001, tmp_path / "engines" / "m", (0,), 0.5, ("vllm",))
    for k in ("HOME", "XDG_CACHE_HOME", "HF_HOME", "VLLM_CACHE_ROOT", "TRITON_CACHE_DIR"):
        monkeypatch.delenv(k, raising=False)
    eng = engine_for("vllm")
    env = eng.env(launch)
    base = tmp_path / "engines"
    assert env["HOME"] == str(base / "home") and env["XDG_CACHE_HOME"] == str(base / "cache")
    assert env["HF_HOME"] == str(base / "cache" / "huggingface") and env["CUDA_VISIBLE_DEVICES"] == "0"
    eng.prepare(launch)
    assert all(Path(env[k]).is_dir() for k in ("HOME", "XDG_CACHE_HOME", "HF_HOME", "VLLM_CACHE_ROOT"))
    # what the NixOS module sets wins
    monkeypatch.setenv("HOME", "/var/lib/hydra-os/home")
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/hydra-os")
    env = eng.env(launch)
    assert env["HOME"] == "/var/lib/hydra-os/home" and env["HF_HOME"] == "/var/cache/hydra-os/huggingface"
    assert env["TRITON_CACHE_DIR"] == "/var/cache/hydra-os/triton"


def test_argv_of_each_engine_matches_the_real_cli(tmp_path: Path) -> None:
    v = ModelSpec(id="qwen", engine="vllm", repo="Qwen/Qwen3-32B-AWQ", context_length=32768, gpus=2,
                  extra_args=["--enforce-eager"])
    lv = Launch(v, "0.0.0.0", 8001, tmp_path, (0, 1), 0.9, ("vllm",))
    assert engine_for("vllm").argv(lv) == [
        "vllm", "serve", "Qwen/Qwen3-32B-AWQ", "--host", "0.0.0.0", "--port", "8001",
        "--served-model-name", "qwen", "--max-model-len", "32768", "--tensor-parallel-size", "2",
        "--gpu-memory-utilization", "0.900", "--enforce-eager"]
    assert engine_for("vllm").env(lv)["CUDA_VISIBLE_DEVICES"] == "0,1"

    ls = ModelSpec(id="small", engine="llama-server", path=Path("/m/a.gguf"), context_length=2048, gpus=0)
    ll = Launch(ls, "127.0.0.1", 8002, tmp_path, (), None, ("/opt/llama-server",))
    assert engine_for("llama-server").argv(ll) == [
        "/opt/llama-server", "-m", "/m/a.gguf", "--host", "127.0.0.1", "--port", "8002", "-c", "2048",
        "-ngl", "0", "--alias", "small", "--metrics"]
    assert engine_for("llama-server").env(ll)["CUDA_VISIBLE_DEVICES"] == ""

    ts = ModelSpec(id="exl", engine="tabbyapi", path=Path("/models/Llama-70B-exl3"), context_length=5000, gpus=2)
    lt = Launch(ts, "0.0.0.0", 5001, tmp_path, (1, 2), None, ("python", "main.py"))
    eng = engine_for("tabbyapi", tabbyapi_dir=Path("/opt/tabbyAPI"))
    assert eng.argv(lt) == ["python", "main.py", "--config", str(tmp_path / "config.yml")]
    assert eng.cwd(lt) == Path("/opt/tabbyAPI")
    eng.prepare(lt)
    parsed = yaml.safe_load((tmp_path / "config.yml").read_text())  # real YAML, as TabbyAPI reads it
    assert parsed == tabby_config(lt)
    assert parsed["network"] == {"host": "0.0.0.0", "port": 5001, "disable_auth": True, "api_servers": ["OAI"]}
    assert parsed["model"]["model_dir"] == "/models" and parsed["model"]["model_name"] == "Llama-70B-exl3"
    assert parsed["model"]["max_seq_len"] == 5000 and parsed["model"]["cache_size"] == 5120
    assert parsed["model"]["tensor_parallel"] is True


def test_model_spec_rejects_bad_input_naming_the_field() -> None:
    with pytest.raises(ValueError, match="llama-server needs 'path'"):
        ModelSpec(id="x", engine="llama-server")
    with pytest.raises(ValueError, match="vllm needs 'path' or 'repo'"):
        ModelSpec(id="x", engine="vllm")
    with pytest.raises(ValueError, match="systemd_unit needs the port"):
        ModelSpec(id="x", engine="vllm", systemd_unit="vllm.service")
    with pytest.raises(ValueError, match="id"):
        ModelSpec(id="bad id", engine="vllm", repo="r")
    with pytest.raises(ValueError, match="extra"):
        ModelSpec(id="x", engine="vllm", repo="r", vram=3)  # type: ignore[call-arg]


async def test_vllm_standin_ready_in_flight_and_sigterm(tmp_path: Path, http: httpx.AsyncClient) -> None:
    spec = ModelSpec(id="qwen-test", engine="vllm", repo="Qwen/Qwen3-0.6B", start_timeout_s=15, stop_grace_s=5)
    launch = _launch(tmp_path, spec, gpus=(1,), frac=0.4)
    rec = tmp_path / "rec.json"
    run = _run(launch, http, {"STANDIN_LOAD_S": "0.5", "STANDIN_RECORD": str(rec), "STANDIN_COMPLETION_S": "1.5"})
    await run.start()
    assert run.state == "ready" and run.detail == "health 200, model listed"
    seen = json.loads(rec.read_text())
    assert seen["argv"][1:4] == ["serve", "Qwen/Qwen3-0.6B", "--host"]
    assert "--gpu-memory-utilization" in seen["argv"] and seen["env"]["CUDA_VISIBLE_DEVICES"] == "1"
    base = run.probe_base
    slow = asyncio.create_task(http.post(base + "/v1/completions", json={"model": "qwen-test", "prompt": "hi"}))
    for _ in range(50):
        await run.check()
        if run.in_flight:
            break
        await asyncio.sleep(0.05)
    assert run.in_flight == 1
    assert (await slow).json()["choices"][0]["text"].startswith("w0")
    await run.check()
    assert run.in_flight == 0
    await run.stop()
    assert run.state == "stopped" and run.exit_code == 0  # exited by itself on SIGTERM
    assert "SIGTERM, shutting down" in (launch.workdir / "engine.log").read_text()


async def test_engine_ignoring_sigterm_is_killed_after_grace(tmp_path: Path, http: httpx.AsyncClient) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    spec = ModelSpec(id="stubborn", engine="llama-server", path=gguf, gpus=0, stop_grace_s=0.5, start_timeout_s=15)
    launch = _launch(tmp_path, spec, gpus=(), frac=None)
    run = _run(launch, http, {"STANDIN_IGNORE_SIGTERM": "1"})
    await run.start()
    pid = run.runner.pid
    assert pid is not None
    await run.stop()
    assert run.exit_code == -signal.SIGKILL
    assert "ignoring SIGTERM" in (launch.workdir / "engine.log").read_text()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_engine_that_never_becomes_ready_is_stopped_with_a_clear_error(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    spec = ModelSpec(id="slowpoke", engine="vllm", path=tmp_path, start_timeout_s=1.0, stop_grace_s=2)
    launch = _launch(tmp_path, spec)
    run = _run(launch, http, {"STANDIN_NEVER_READY": "1"})
    with pytest.raises(EngineStartError, match=r"not ready after 1s \(last check: .*/health: HTTP 503\)"):
        await run.start()
    assert run.state == "failed" and run.exit_code == 0
    assert str(launch.workdir / "engine.log") in (run.error or "")


async def test_engine_exiting_early_fails_with_its_log_tail(tmp_path: Path, http: httpx.AsyncClient) -> None:
    spec = ModelSpec(id="missing", engine="llama-server", path=tmp_path / "nope.gguf", gpus=0, start_timeout_s=15)
    run = _run(_launch(tmp_path, spec, gpus=(), frac=None), http)
    with pytest.raises(EngineStartError, match=r"exited with code 1 before it was ready.*failed to open"):
        await run.start()
    assert run.state == "failed"


async def test_missing_engine_binary_is_a_clear_error(tmp_path: Path, http: httpx.AsyncClient) -> None:
    spec = ModelSpec(id="nobin", engine="vllm", repo="r")
    run = _run(_launch(tmp_path, spec, command=[str(tmp_path / "no-such-vllm")]), http)
    with pytest.raises(EngineStartError, match=r"cannot run .*no-such-vllm"):
        await run.start()


async def test_tabbyapi_standin_runs_from_generated_config(tmp_path: Path, http: httpx.AsyncClient) -> None:
    folder = tmp_path / "models" / "Mistral-exl3"
    folder.mkdir(parents=True)
    spec = ModelSpec(id="mistral", engine="tabbyapi", path=folder, start_timeout_s=15, stop_grace_s=5)
    run = _run(_launch(tmp_path, spec), http)
    await run.start()
    r = await http.post(run.probe_base + "/v1/chat/completions",
                        json={"model": "mistral", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert r.text.rstrip().endswith("data: [DONE]")
    await run.check()
    assert run.state == "ready" and run.in_flight is None  # TabbyAPI exposes no request-count metric
    await run.stop()
    assert run.state == "stopped"


async def test_crash_after_ready_is_noticed_by_check(tmp_path: Path, http: httpx.AsyncClient) -> None:
    spec = ModelSpec(id="crashy", engine="vllm", repo="r", start_timeout_s=15)
    run = _run(_launch(tmp_path, spec), http, {"STANDIN_EXIT_AFTER_S": "0.6", "STANDIN_LOAD_S": "0"})
    await run.start()
    for _ in range(60):
        await run.check()
        if run.state == "failed":
            break
        await asyncio.sleep(0.05)
    assert run.state == "failed" and run.exit_code == 3
    assert "exited unexpectedly with code 3" in (run.error or "")


async def test_systemd_runner_starts_and_stops_a_unit(tmp_path: Path, http: httpx.AsyncClient,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    units = tmp_path / "units"
    units.mkdir()
    port = free_port()
    (units / "vllm-qwen.service.json").write_text(json.dumps(
        {"argv": [*cmd("vllm"), "serve", "Qwen/Q", "--host", "127.0.0.1", "--port", str(port),
                  "--served-model-name", "qwen"]}))
    monkeypatch.setenv("STANDIN_UNITS_DIR", str(units))
    spec = ModelSpec(id="qwen", engine="vllm", repo="Qwen/Q", systemd_unit="vllm-qwen.service", port=port,
                     start_timeout_s=15)
    launch = Launch(spec, "127.0.0.1", port, tmp_path / "w", (0,), None, ())
    runner = SystemdRunner("vllm-qwen.service", systemctl=str(HERE / "systemctl"))
    base = f"http://127.0.0.1:{port}"
    run = ModelRun(engine_for("vllm"), runner, launch, Placement((0,), 0, None), probe_base=base,
                   announce_base=base, http=http)
    await run.start()
    assert run.state == "ready" and run.status()["log"] == "journalctl -u vllm-qwen.service"
    assert await runner.exit_code() is None
    await run.stop()
    assert await runner.exit_code() == 3  # is-active: inactive
    bad = SystemdRunner("nope.service", systemctl=str(HERE / "systemctl"))
    with pytest.raises(EngineStartError, match=r"systemctl start nope\.service failed.*not found"):
        await bad.start()


class _Announcements:
    def __init__(self) -> None:
        self.live: dict[str, EndpointInfo] = {}

    async def announce(self, info: EndpointInfo) -> None:
        self.live[info.id] = info

    async def withdraw(self, endpoint_id: str) -> None:
        self.live.pop(endpoint_id, None)


async def test_ollama_is_discovered_not_managed(tmp_path: Path, http: httpx.AsyncClient) -> None:
    port = free_port()
    models_file = tmp_path / "ollama-models"
    models_file.write_text("llama3.2:3b,qwen2.5:14b")
    proc = await asyncio.create_subprocess_exec(
        *cmd("ollama"), "serve",
        env={**os.environ, "OLLAMA_HOST": f"127.0.0.1:{port}", "STANDIN_OLLAMA_MODELS_FILE": str(models_file)})
    try:
        src = OllamaSource(url=f"http://127.0.0.1:{port}", tiers={"qwen2.5:14b": "standard"})
        sink = _Announcements()
        d = OllamaDiscovery(src, 0, "gpu1", sink, http)
        for _ in range(100):
            await d.discover_once()
            if d.error is None:
                break
            await asyncio.sleep(0.05)
        assert sorted(i.model for i in sink.live.values()) == ["llama3.2:3b", "qwen2.5:14b"]
        by_model = {i.model: i for i in sink.live.values()}
        assert by_model["qwen2.5:14b"].tier == "standard" and by_model["llama3.2:3b"].tier == "fast"
        assert by_model["llama3.2:3b"].base_url == f"http://127.0.0.1:{port}/v1"
        assert by_model["llama3.2:3b"].engine == "ollama"
        models_file.write_text("qwen2.5:14b")  # one removed with `ollama rm`
        await d.discover_once()
        assert [i.model for i in sink.live.values()] == ["qwen2.5:14b"]
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
    await d.discover_once()  # server gone: everything withdrawn, error reported
    assert sink.live == {} and d.error is not None
    assert proc.returncode is not None and sys.platform.startswith("linux")
