"""Wiring: the default stack (the real ONNX MiniLM; the torch one where installed), and the memory
component's background open, embedder check and retry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hydra_os.bus.client import Bus
from memory.config import CoreConfig, MemoryConfig
from memory.embed import OnnxEmbedder, minilm_available
from memory.protocols import PassageIn
from memory.service import MemoryClient
from memory.wiring import DeferredMiniLM, MemoryComponent, open_local
from tests.memory.conftest import LettaProc, hashing_config, shadow_corrupt_model


async def test_default_config_embeds_with_the_onnx_minilm(tmp_path: Path) -> None:
    mem = await open_local(MemoryConfig(), tmp_path)
    try:
        assert isinstance(mem.embedder, OnnxEmbedder) and not mem.embedder.loaded  # nothing loaded at open
        await mem.stack.archival.add([PassageIn(text="The owner's NAS is a Synology at 10.0.0.5"),
                                      PassageIn(text="Mira is the heroine of the visual novel")])
        hits = await mem.stack.archival.search("where is the network storage?", limit=1, mode="vector")
        assert hits[0].passage.text.startswith("The owner's NAS")
        assert mem.stack.archival.embedding_model == "all-MiniLM-L6-v2-onnx-int8"
    finally:
        await mem.close()


async def test_component_reports_an_embedder_that_cannot_embed(
    tmp_path: Path, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A memory that cannot embed must say so, not report serving (and fail every remember)."""
    monkeypatch.syspath_prepend(str(shadow_corrupt_model(tmp_path / "shadow")))
    comp = MemoryComponent(MemoryConfig(), tmp_path / "state", bus, "n1")
    await comp.start()
    try:
        for _ in range(600):
            if comp.status().get("error"):
                break
            await asyncio.sleep(0.05)
        st = comp.status()
        assert st["state"] == "error" and st["embed_backend"] == "onnx", st
        assert "model.onnx has sha256" in st["error"] and "reinstall hydra-os" in st["error"]
        assert st["lifecycle"] == {"state": "retrying", "reason": st["error"]}  # what /readyz lists as failing
    finally:
        await comp.stop()


@pytest.mark.skipif(minilm_available() is not None, reason=str(minilm_available()))
async def test_minilm_config_embeds_with_torch_on_first_use(tmp_path: Path) -> None:
    cfg = MemoryConfig()
    cfg.embed.backend = "minilm"
    mem = await open_local(cfg, tmp_path)
    try:
        assert isinstance(mem.embedder, DeferredMiniLM) and not mem.embedder.loaded  # nothing loaded at open
        await mem.stack.archival.add([PassageIn(text="The owner's NAS is a Synology at 10.0.0.5"),
                                      PassageIn(text="Mira is the heroine of the visual novel")])
        assert mem.embedder.loaded
        hits = await mem.stack.archival.search("where is the network storage?", limit=1, mode="vector")
        assert hits[0].passage.text.startswith("The owner's NAS")
        assert mem.stack.archival.embedding_model == "sentence-transformers/all-MiniLM-L6-v2"
    finally:
        await mem.close()


async def test_component_reports_a_failing_backend_and_retries(tmp_path: Path, bus: Bus) -> None:
    cfg = hashing_config()
    # nothing listens there: the core store cannot open; the node and the other stores stay up
    cfg.core = CoreConfig(backend="letta", letta_url="http://127.0.0.1:9", timeout_s=0.5)
    comp = MemoryComponent(cfg, tmp_path, bus, "n1")
    await comp.start()
    try:
        await comp.wait_serving(60)
        st = comp.status()
        assert st["state"] == "degraded"
        err = st["stores"]["core"]["error"]
        assert "letta server http://127.0.0.1:9" in err and "cannot connect" in err
        assert st["stores"]["learnings"] == {"state": "ok"}
        assert st["lifecycle"] == {"state": "running", "reason": "stores down: core"}
    finally:
        await comp.stop()
        await comp.stop()  # idempotent
    assert comp.status()["state"] == "opening"
    assert comp.status()["lifecycle"] == {"state": "stopped", "reason": None}


async def test_component_serves_with_a_letta_core(tmp_path: Path, bus: Bus, letta_server: LettaProc) -> None:
    cfg = hashing_config()
    key = tmp_path / "letta.key"
    key.write_text(f"{letta_server.api_key}\n")
    cfg.core = CoreConfig(backend="letta", letta_url=letta_server.url, letta_tag="wiring-test",
                          letta_api_key_file=key)
    comp = MemoryComponent(cfg, tmp_path, bus, "n1")
    await comp.start()
    try:
        await comp.wait_serving(30)
        assert comp.status()["state"] == "serving"
        stack = (await MemoryClient(bus).open()).stack()
        assert [b.label for b in await stack.core.list_blocks()] == ["persona", "owner", "projects", "preferences"]
        await stack.core.append("owner", "Name: Sam")
        assert "PATCH /v1/blocks/" in {c[: len("PATCH /v1/blocks/")] for c in letta_server.calls()}
    finally:
        await comp.stop()


async def test_the_memory_node_indexes_a_store_written_while_it_was_down_at_start(tmp_path: Path, bus: Bus) -> None:
    """Passages written with no daemon serving (a restore, an offline CLI write) are indexed when the
    memory node starts, not a whole ``optimize_interval_s`` (300 s by default) later."""
    cfg = hashing_config()
    offline = await open_local(cfg, tmp_path)
    try:
        await offline.stack.archival.add([PassageIn(text=f"restored note {i} about the NAS") for i in range(50)])
    finally:
        await offline.close()
    assert cfg.service.optimize_interval_s >= 300
    comp = MemoryComponent(cfg, tmp_path, bus, "n1")
    await comp.start()
    try:
        await comp.wait_serving(60)
        for _ in range(1200):  # generous: the machine is shared
            if comp.optimizer is not None and comp.optimizer.runs >= 1:
                break
            await asyncio.sleep(0.05)
        assert comp.optimizer is not None and comp.optimizer.runs >= 1, "no optimisation at start"
    finally:
        await comp.stop()
