"""The ComfyUI client and workflow templates against the ComfyUI stand-in (real HTTP + WebSocket)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.creative.comfy.client import ComfyClient
from pipelines.creative.comfy.workflow import Slot, check, load
from pipelines.creative.errors import ComfyError, ComfyUnavailableError, WorkflowError
from tests.standins.comfyui import ComfyStandin, png_bytes


@pytest.fixture
async def comfy() -> AsyncIterator[ComfyStandin]:
    async with ComfyStandin() as s:
        yield s


def values(**kw: Any) -> dict[Slot, Any]:
    base: dict[Slot, Any] = {Slot.PROMPT: "red-haired queen", Slot.NEGATIVE: "blurry", Slot.SEED: 7,
                                Slot.WIDTH: 64, Slot.HEIGHT: 64, Slot.BATCH: 1}
    return base | {Slot(k): v for k, v in kw.items()}


async def test_a_filled_template_runs_and_the_image_comes_back(comfy: ComfyStandin) -> None:
    t = load("txt2img")
    wf = t.fill(values(lora="aria_v1.safetensors", lora_weight=0.7))
    progress: list[tuple[int, int]] = []
    async with ComfyClient(comfy.base) as c:
        check(wf, await c.object_info(), c.base)
        res = await c.run(wf, t.spec.output, timeout=30, progress=lambda v, m: progress.append((v, m)))
        data = await c.view(res.images[0])
    assert data == png_bytes(7) and data.startswith(b"\x89PNG")
    assert res.images[0].node == "9" and progress[-1] == (3, 3)
    sent = comfy.prompts[-1]
    assert sent["6"]["inputs"]["text"] == "red-haired queen" and sent["3"]["inputs"]["seed"] == 7
    assert sent["10"]["inputs"]["strength_model"] == sent["10"]["inputs"]["strength_clip"] == 0.7


async def test_without_a_lora_the_loader_is_bypassed_and_links_rewired(comfy: ComfyStandin) -> None:
    t = load("txt2img")
    wf = t.fill(values())
    assert "10" not in wf and wf["3"]["inputs"]["model"] == ["4", 0] and wf["6"]["inputs"]["clip"] == ["4", 1]
    async with ComfyClient(comfy.base) as c:
        res = await c.run(wf, t.spec.output, timeout=30)
    assert res.images


async def test_node_errors_become_one_message_naming_node_and_input(comfy: ComfyStandin) -> None:
    t = load("txt2img")
    wf = t.fill(values(lora="missing.safetensors", lora_weight=1.0))
    async with ComfyClient(comfy.base) as c:
        with pytest.raises(ComfyError) as e:
            await c.run(wf, t.spec.output, timeout=30)
    msg = str(e.value)
    assert "Prompt outputs failed validation" in msg
    assert "node 10 (LoraLoader) input 'lora_name': Value not in list" in msg and "missing.safetensors" in msg
    assert comfy.prompts == []


async def test_object_info_check_names_uninstalled_classes_and_missing_inputs(comfy: ComfyStandin) -> None:
    t = load("ipadapter_faceid")
    wf = t.fill(values(reference="hydra/ref.png", reference_weight=0.8))
    wf["18"]["class_type"] = "InstantIDApply"
    del wf["5"]["inputs"]["width"]
    async with ComfyClient(comfy.base) as c:
        with pytest.raises(WorkflowError) as e:
            check(wf, await c.object_info(), c.base)
    assert "node 18 (InstantIDApply): class not installed" in str(e.value)
    assert "node 5 (EmptyLatentImage): required input 'width' missing" in str(e.value)


async def test_reference_upload_and_the_faceid_workflow(comfy: ComfyStandin) -> None:
    t = load("ipadapter_faceid")
    async with ComfyClient(comfy.base) as c:
        name = await c.upload_image(png_bytes(1), "aria_ref.png")
        wf = t.fill(values(reference=name, reference_weight=0.9))
        check(wf, await c.object_info(), c.base)
        res = await c.run(wf, t.spec.output, timeout=30)
    assert name == "hydra/aria_ref.png" and comfy.uploads[name] == png_bytes(1)
    assert comfy.prompts[-1]["18"]["inputs"]["weight_faceidv2"] == 0.9 and res.images


async def test_an_execution_error_is_an_error_never_a_placeholder(comfy: ComfyStandin) -> None:
    comfy.fail_next = 1
    t = load("txt2img")
    async with ComfyClient(comfy.base) as c:
        with pytest.raises(ComfyError, match=r"node 3 \(KSampler\) failed: torch.OutOfMemoryError"):
            await c.run(t.fill(values()), t.spec.output, timeout=30)


async def test_a_stalled_job_is_interrupted_at_its_bound(comfy: ComfyStandin) -> None:
    comfy.stall = True
    t = load("txt2img")
    async with ComfyClient(comfy.base) as c:
        with pytest.raises(ComfyUnavailableError, match="did not finish in 1s"):
            await c.run(t.fill(values()), t.spec.output, timeout=1)
    assert comfy.finished == 0


async def test_a_server_that_dies_mid_job_is_unavailable_not_a_result(comfy: ComfyStandin) -> None:
    comfy.die_after = 0
    t = load("txt2img")
    async with ComfyClient(comfy.base, request_timeout=5) as c:
        with pytest.raises(ComfyUnavailableError):
            await c.run(t.fill(values()), t.spec.output, timeout=30)


async def test_system_stats_give_free_vram(comfy: ComfyStandin) -> None:
    async with ComfyClient(comfy.base) as c:
        assert await c.free_vram_gb() == 20.0


async def test_a_template_whose_slots_name_missing_nodes_is_refused(tmp_path: Path) -> None:
    d = tmp_path
    (d / "bad.json").write_text('{"1": {"class_type": "SaveImage", "inputs": {}}}')
    (d / "bad.toml").write_text('output = "1"\n[slots]\nprompt = { node = "6", input = "text" }\n')
    with pytest.raises(WorkflowError, match="prompt -> node 6"):
        load("bad", d)
    (d / "bad.toml").write_text('output = "1"\n[slots]\nflavour = { node = "1", input = "x" }\n')
    with pytest.raises(WorkflowError, match=r"slots\.flavour"):
        load("bad", d)
