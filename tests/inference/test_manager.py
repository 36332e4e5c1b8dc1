"""ModelManager on a real bus with a real EndpointRegistry and node RPC, running stand-in engines.

GPUs here are GpuInfo data (the planner's input); the NVML path itself (pynvml loading a stand-in
libnvidia-ml.so.1) is covered by the daemon test in test_manager_e2e.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from hydra_os.bus.client import Bus
from hydra_os.errors import ConfigError, RpcError
from hydra_os.inference.endpoint import endpoint_key
from hydra_os.inference.engines.errors import ModelBusyError, PlacementError, UnknownModelError
from hydra_os.inference.manager import ModelManager
from hydra_os.inference.registry import EndpointRegistry
from hydra_os.inference.vram import Resident, plan, plan_with_eviction
from hydra_os.node import rpc
from hydra_os.node.gpu import GpuInfo
from hydra_os.node.rpc import NodeRpc
from hydra_os.sections.models import ModelsConfig
from tests.inference.policy_gate import make_gate
from tests.standins.engines.fixtures import cmd, gpu


async def _until(pred: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# ---- the planner on GpuInfo data --------------------------------------------------------------
def test_plan_picks_the_gpus_with_most_room_and_refuses_with_needed_vs_free() -> None:
    gpus = [gpu(0, 24576, 8000), gpu(1, 24576, 20000, "RTX-4090")]
    p = plan("m", 12000, 1, gpus, headroom_mb=512)
    assert p.gpu_indices == (1,) and p.per_gpu_mb == 12000
    assert p.gpu_fraction == pytest.approx(12000 / 24576, abs=1e-3)
    with pytest.raises(PlacementError) as e:
        plan("big", 30000, 1, gpus, headroom_mb=512)
    assert str(e.value) == (
        "cannot place 'big': needs 30000 MiB on each of 1 GPU(s) (30000 MiB in all); available after 512 MiB "
        "headroom and models already placed here: GPU0 RTX-3090: 7488 MiB free, GPU1 RTX-4090: 19488 MiB free")
    two = plan("tp", 14000, 2, [gpu(0, 24576, 8000), gpu(1, 24576, 20000), gpu(2, 24576, 9000)])
    assert two.gpu_indices == (1, 2) and two.per_gpu_mb == 7000
    with pytest.raises(PlacementError, match="needs 2 GPU\\(s\\), this node has no GPU"):
        plan("tp", 100, 2, [])
    assert plan("cpu", 0, 0, []).gpu_indices == ()


def test_models_placed_but_still_loading_count_against_free_memory() -> None:
    gpus = [gpu(0, 24576, 24000)]  # NVML has not seen the first model allocate yet
    first = Resident("a", (0,), 16000, 0, 1.0)
    with pytest.raises(PlacementError, match="GPU0 RTX-3090: 8576 MiB free"):
        plan("b", 10000, 1, gpus, [first])


def test_eviction_takes_idle_models_oldest_first_and_never_busy_ones() -> None:
    gpus = [gpu(0, 24576, 2000)]
    old_idle = Resident("old", (0,), 10000, 0, 1.0)
    new_idle = Resident("new", (0,), 10000, 0, 2.0)
    busy = Resident("busy", (0,), 4000, 3, 0.5)
    placement, evicted = plan_with_eviction("m", 9000, 1, gpus, [busy, new_idle, old_idle])
    assert evicted == ["old"] and placement.gpu_indices == (0,)
    with pytest.raises(PlacementError, match=r"not evicting busy models: busy \(3 in flight\)"):
        plan_with_eviction("huge", 23000, 1, gpus, [busy, new_idle, old_idle])
    unknown = Resident("tabby", (0,), 20000, None, 0.1)
    with pytest.raises(PlacementError, match=r"tabby \(load unknown\)"):
        plan_with_eviction("m", 9000, 1, [gpu(0, 24576, 2000)], [unknown])


# ---- the manager ------------------------------------------------------------------------------
class Gpus:
    """The node's GPUs as NVML would report them (mutable between calls, like real free memory)."""

    def __init__(self, *gpus: GpuInfo) -> None:
        self.gpus = list(gpus)

    def __call__(self) -> list[GpuInfo]:
        return list(self.gpus)


def _config(tmp_path: Path, *models: dict[str, object], **kw: object) -> ModelsConfig:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    entries = []
    for m in models:
        base: dict[str, object] = {"start_timeout_s": 15, "stop_grace_s": 3}
        if m.get("engine") == "llama-server":
            base["path"] = str(gguf)
        if m.get("engine") == "vllm":
            base["repo"] = "org/" + str(m["id"])
        entries.append({**base, "command": cmd(str(m.get("engine"))), **m})
    return ModelsConfig.model_validate({"model": entries, "health_interval_s": 0.1, "vram_headroom_mb": 0, **kw})


@pytest.fixture
async def registry(bus: Bus) -> AsyncIterator[EndpointRegistry]:
    async with EndpointRegistry(bus, "gpu1", refresh_interval=0.2, gone_after=0.8) as r:
        yield r


async def test_start_announces_when_ready_and_stop_withdraws(tmp_path: Path, bus: Bus,
                                                             registry: EndpointRegistry) -> None:
    cfg = _config(tmp_path, {"id": "qwen", "engine": "vllm", "vram_mb": 8000, "tier": "heavy",
                             "context_length": 16384, "aliases": ["big"], "env": {"STANDIN_LOAD_S": "0.4"}})
    m = ModelManager(cfg, node_id="gpu1", state_dir=tmp_path, gpu_reader=Gpus(gpu(0, 24576, 24000)),
                     registry=registry)
    await m.start()
    try:
        st = await m.start_model("qwen")
        assert st["state"] == "starting"
        assert registry.get(endpoint_key("gpu1", "qwen")) is None  # not announced before it is ready
        await _until(lambda: registry.get(endpoint_key("gpu1", "qwen")) is not None)
        info = registry.get(endpoint_key("gpu1", "qwen"))
        assert info is not None
        assert (info.model, info.engine, info.tier, info.context_length, info.aliases, info.health) == (
            "qwen", "vllm", "heavy", 16384, ["big"], "healthy")
        async with httpx.AsyncClient(trust_env=False) as c:  # the announced URL serves OpenAI completions
            r = await c.post(info.base_url + "/completions", json={"model": "qwen", "prompt": "a b", "max_tokens": 3})
        assert r.json()["choices"][0]["text"] == "w0 w1 w2" and r.json()["usage"]["completion_tokens"] == 3
        st = m.describe("qwen")
        assert st["state"] == "ready" and st["gpus"] == [0] and st["vram_per_gpu_mb"] == 8000
        assert (await m.start_model("qwen"))["pid"] == st["pid"]  # starting a running model is a no-op
        await m.stop_model("qwen")
        assert m.describe("qwen")["state"] == "stopped"
        await _until(lambda: registry.get(endpoint_key("gpu1", "qwen")) is None)
        with pytest.raises(UnknownModelError, match="no model 'nope' is declared on node gpu1 \\(declared: qwen\\)"):
            await m.start_model("nope")
    finally:
        await m.stop()
        await m.stop()  # idempotent


async def test_refuses_what_cannot_fit_and_evicts_only_idle_models(tmp_path: Path, bus: Bus,
                                                                    registry: EndpointRegistry) -> None:
    cfg = _config(
        tmp_path,
        {"id": "a", "engine": "vllm", "vram_mb": 10000, "env": {"STANDIN_COMPLETION_S": "3", "STANDIN_LOAD_S": "0"}},
        {"id": "b", "engine": "llama-server", "vram_mb": 10000, "env": {"STANDIN_LOAD_S": "0"}},
        {"id": "c", "engine": "vllm", "vram_mb": 12000, "env": {"STANDIN_LOAD_S": "0"}},
    )
    m = ModelManager(cfg, node_id="gpu1", state_dir=tmp_path, gpu_reader=Gpus(gpu(0, 24576, 24576)),
                     registry=registry, gate=await make_gate(bus, "gpu1"))  # evictions go through the policy
    await m.start()
    try:
        await m.start_model("a", wait=True)
        await m.start_model("b", wait=True)
        with pytest.raises(PlacementError) as e:
            await m.start_model("c")
        assert "needs 12000 MiB on each of 1 GPU(s)" in str(e.value)
        assert "GPU0 RTX-3090: 4576 MiB free" in str(e.value)
        assert "--evict' may stop idle: a, b" in str(e.value)
        async with httpx.AsyncClient(trust_env=False, timeout=10) as c:
            a_url = m.runs["a"].probe_base
            busy = asyncio.create_task(c.post(a_url + "/v1/completions", json={"model": "a", "prompt": "x"}))
            await _until(lambda: m.runs["a"].engine is not None and busy is not None, 1)
            await asyncio.sleep(0.5)  # the request is inside engine a now
            with pytest.raises(ModelBusyError, match="'a' has 1 request\\(s\\) in flight"):
                await m.stop_model("a")
            st = await m.start_model("c", evict=True, wait=True)  # evicts b (idle), never a (busy)
            assert st["state"] == "ready"
            assert m.describe("a")["state"] == "ready" and m.describe("b")["state"] == "stopped"
            assert (await busy).status_code == 200  # the in-flight request finished normally
        await _until(lambda: registry.get(endpoint_key("gpu1", "b")) is None)
        assert registry.get(endpoint_key("gpu1", "c")) is not None
    finally:
        await m.stop()
    assert all(r.state == "stopped" for r in m.runs.values())
    assert registry.mine() == []


async def test_crashed_engine_is_withdrawn_and_reported(tmp_path: Path, bus: Bus, registry: EndpointRegistry) -> None:
    cfg = _config(tmp_path, {"id": "flaky", "engine": "llama-server", "gpus": 0,
                             "env": {"STANDIN_EXIT_AFTER_S": "1.0", "STANDIN_LOAD_S": "0"}})
    m = ModelManager(cfg, node_id="gpu1", state_dir=tmp_path, gpu_reader=Gpus(), registry=registry)
    await m.start()
    try:
        await m.start_model("flaky", wait=True)
        assert registry.get(endpoint_key("gpu1", "flaky")) is not None
        await _until(lambda: m.describe("flaky")["state"] == "failed")
        assert "exited unexpectedly with code 3" in m.describe("flaky")["error"]
        await _until(lambda: registry.get(endpoint_key("gpu1", "flaky")) is None)
    finally:
        await m.stop()


async def test_autostart_state_file_and_node_rpc(tmp_path: Path, bus: Bus, registry: EndpointRegistry) -> None:
    gguf = tmp_path / "s.gguf"
    gguf.write_bytes(b"GGUF")
    py, script = cmd("llama-server")
    (tmp_path / "models.toml").write_text(
        f'[[model]]\nid = "starter"\nengine = "llama-server"\npath = "{gguf}"\ngpus = 0\ntier = "fast"\n'
        f'autostart = true\ncommand = ["{py}", "{script}"]\ncompletions_only = true\n'
        '[[model]]\nid = "shadowed"\nengine = "vllm"\nrepo = "x"\ntier = "fast"\n')
    cfg = _config(tmp_path, {"id": "shadowed", "engine": "vllm", "tier": "heavy"})
    m = ModelManager(cfg, node_id="gpu1", state_dir=tmp_path, gpu_reader=Gpus(gpu(0, 8192, 8192)),
                     registry=registry)
    assert m.specs["shadowed"].tier == "heavy"  # the main config wins over the state file
    node_rpc = NodeRpc(bus, "gpu1")
    node_rpc.handle_all(m.rpc_handlers())
    await node_rpc.start()
    await m.start()
    try:
        await _until(lambda: m.describe("starter")["state"] == "ready")
        info = registry.get(endpoint_key("gpu1", "starter"))
        assert info is not None and info.completions_only and info.tier == "fast"
        listed = await rpc.call(bus, "gpu1", "models.list")
        assert [x["id"] for x in listed["models"]] == ["shadowed", "starter"]
        assert listed["gpus"][0]["memory_total_mb"] == 8192
        st = await rpc.call(bus, "gpu1", "models.start", {"id": "shadowed", "wait": True}, timeout=20)
        assert st["state"] == "ready" and st["tier"] == "heavy"
        with pytest.raises(RpcError, match=r"models\.start: field 'evict': Input should be a valid boolean"):
            await rpc.call(bus, "gpu1", "models.start", {"id": "shadowed", "evict": "perhaps"})
        with pytest.raises(RpcError, match="field 'idd': Extra inputs are not permitted"):
            await rpc.call(bus, "gpu1", "models.stop", {"idd": "x"})
        with pytest.raises(RpcError, match="no model 'ghost' is declared"):
            await rpc.call(bus, "gpu1", "models.status", {"id": "ghost"})
        st = await rpc.call(bus, "gpu1", "models.stop", {"id": "shadowed"}, timeout=20)
        assert st["state"] == "stopped"
    finally:
        await m.stop()
        await node_rpc.stop()


def test_bad_state_file_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "models.toml").write_text('[[model]]\nid = "x"\nengine = "mlc"\n')
    with pytest.raises(ConfigError, match=r"models.toml: model.0.engine: Input should be 'vllm', 'tabbyapi'"):
        ModelManager(ModelsConfig(), node_id="n", state_dir=tmp_path, gpu_reader=Gpus())
