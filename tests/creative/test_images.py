"""Image batches over several ComfyUI stand-ins: provenance per image, a server dying mid-batch, a rerun
that does not redo finished images, rejected images made again with a new seed."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pipelines.creative.errors import ComfyUnavailableError
from pipelines.creative.images import ImageBatch, needed_keys, plan
from pipelines.creative.model import ImageAsset, ReferenceImage, Review
from pipelines.creative.ops import CharacterPut
from pipelines.creative.service import CreativeService
from tests.creative.conftest import make_project
from tests.standins.comfyui import ComfyStandin, png_bytes


@pytest.fixture
async def two() -> AsyncIterator[tuple[ComfyStandin, ComfyStandin]]:
    async with ComfyStandin(step_delay=0.02) as a, ComfyStandin(step_delay=0.02) as b:
        yield a, b


async def test_a_batch_is_shared_and_every_image_has_provenance(service: CreativeService, tmp_path: Path,
                                                                two: tuple[ComfyStandin, ComfyStandin]) -> None:
    await make_project(service)
    p = await service.get("ebq")
    jobs = plan(p, p.scenes["s1"])
    assert [j.key for j in jobs] == needed_keys(p, p.scenes["s1"]) == ["bg_hall", "aria_neutral", "zoe_neutral"]
    batch = ImageBatch([two[0].base, two[1].base], tmp_path / "proj", timeout=30)
    report = await batch.run(jobs)
    assert sorted(pr.key for pr in report.done) == ["aria_neutral", "bg_hall", "zoe_neutral"] and not report.failed
    assert two[0].finished + two[1].finished == 3 and two[0].finished and two[1].finished  # both took work
    for pr in report.done:
        data = (tmp_path / "proj" / "images" / f"{pr.key}.png").read_bytes()
        assert data == png_bytes(pr.seed) and hashlib.sha256(data).hexdigest() == pr.sha256
        assert pr.template == "txt2img" and len(pr.template_sha256) == 64 and pr.prompt_id and pr.node == "9"
        assert pr.slots["seed"] == pr.seed and "lora" in pr.slots


async def test_a_server_dying_mid_batch_hands_its_work_to_the_other(service: CreativeService, tmp_path: Path,
                                                                    two: tuple[ComfyStandin, ComfyStandin]) -> None:
    await make_project(service)
    p = await service.get("ebq")
    two[0].die_after = 0  # the first job it takes, it dies
    batch = ImageBatch([two[0].base, two[1].base], tmp_path / "proj", timeout=30, request_timeout=5)
    report = await batch.run(plan(p, p.scenes["s1"]))
    assert len(report.done) == 3 and report.servers_lost == [two[0].base] and two[1].finished == 3


async def test_when_every_server_is_gone_finished_images_are_kept_and_not_redone(
        service: CreativeService, tmp_path: Path, two: tuple[ComfyStandin, ComfyStandin]) -> None:
    await make_project(service)
    p = await service.get("ebq")
    jobs = plan(p, p.scenes["s1"])
    a = two[0]
    a.die_after = 1
    with pytest.raises(ComfyUnavailableError, match="2 image\\(s\\) left"):
        await ImageBatch([a.base], tmp_path / "proj", timeout=30, request_timeout=5).run(jobs)
    assert a.finished == 1
    b = two[1]
    report = await ImageBatch([b.base], tmp_path / "proj", timeout=30).run(jobs)
    assert len(report.reused) == 1 and len(report.done) == 2 and b.finished == 2


async def test_a_failing_image_is_an_error_and_the_rest_go_on(service: CreativeService, tmp_path: Path,
                                                              two: tuple[ComfyStandin, ComfyStandin]) -> None:
    await make_project(service)
    p = await service.get("ebq")
    two[0].fail_next = 1
    report = await ImageBatch([two[0].base], tmp_path / "proj", timeout=30).run(plan(p, p.scenes["s1"]))
    assert len(report.done) == 2 and next(iter(report.failed.values())).count("OutOfMemoryError") == 1
    assert not (tmp_path / "proj" / "images" / f"{next(iter(report.failed))}.png").exists()


async def test_references_go_through_the_faceid_template_and_rejection_changes_the_seed(
        service: CreativeService, tmp_path: Path, two: tuple[ComfyStandin, ComfyStandin]) -> None:
    await make_project(service)
    proj = service.store.dir("ebq")
    (proj / "references").mkdir(parents=True)
    ref = png_bytes(99)
    (proj / "references" / "aria.png").write_bytes(ref)
    aria = (await service.get("ebq")).characters["aria"]
    refs = [ReferenceImage(path="references/aria.png", sha256=hashlib.sha256(ref).hexdigest())]
    body = aria.model_dump(exclude={"id"}) | {"references": refs, "generation": {"lora": "aria_v1.safetensors"}}
    await service.put_character(CharacterPut.model_validate({"project": "ebq", "id": "aria", "character": body}))
    p = await service.get("ebq")
    jobs = {j.key: j for j in plan(p, p.scenes["s1"])}
    assert jobs["aria_neutral"].template == "ipadapter_faceid" and jobs["zoe_neutral"].template == "txt2img"
    report = await ImageBatch([two[0].base], proj, timeout=30).run([jobs["aria_neutral"]])
    prov = report.done[0]
    assert prov.references[0]["sha256"] == hashlib.sha256(ref).hexdigest()
    assert two[0].uploads[prov.references[0]["uploaded_as"]] == ref
    assert two[0].prompts[-1]["10"]["inputs"]["lora_name"] == "aria_v1.safetensors"
    # the owner rejects it: the next plan makes it again with another seed
    s1 = p.scenes["s1"]
    s1.images = [ImageAsset(key="aria_neutral", path="images/aria_neutral.png", sha256=prov.sha256,
                            review=Review.REJECTED, provenance_path="images/aria_neutral.json")]
    again = {j.key: j for j in plan(p, s1)}
    assert again["aria_neutral"].attempt == 1 and again["aria_neutral"].seed != prov.seed
    assert "zoe_neutral" in again and "bg_hall" in again


async def test_a_server_without_enough_free_vram_takes_no_job(service: CreativeService, tmp_path: Path,
                                                              two: tuple[ComfyStandin, ComfyStandin]) -> None:
    await make_project(service)
    p = await service.get("ebq")
    two[0].vram_free_gb = 2.0
    batch = ImageBatch([two[0].base, two[1].base], tmp_path / "proj", timeout=30, vram_gb=6)
    report = await batch.run(plan(p, p.scenes["s1"]))
    assert len(report.done) == 3 and two[0].prompts == [] and two[1].finished == 3
    assert report.servers_skipped == {two[0].base: "2.0 GB VRAM free, the batch needs 6.0 GB"}
    two[1].vram_free_gb = 1.0
    with pytest.raises(ComfyUnavailableError, match="VRAM free"):
        await ImageBatch([two[0].base, two[1].base], tmp_path / "other", timeout=30, vram_gb=6).run(
            plan(p, p.scenes["s1"]))


async def test_a_reference_changed_on_disk_fails_that_image_not_the_batch(
        service: CreativeService, tmp_path: Path, two: tuple[ComfyStandin, ComfyStandin]) -> None:
    await make_project(service)
    await service.add_reference("ebq", "aria", png_bytes(9))
    p = await service.get("ebq")
    proj = service.store.dir("ebq")
    (proj / p.characters["aria"].references[0].path).write_bytes(png_bytes(10))  # swapped behind our back
    report = await ImageBatch([two[0].base], proj, timeout=30).run(plan(p, p.scenes["s1"]))
    assert "changed since it was added" in report.failed["aria_neutral"] and len(report.done) == 2
