"""Images for a scene: plan the jobs (backgrounds, one sprite per character and expression), run them as
one batch shared by every configured ComfyUI server, store each image with its provenance.

Resumable per image: an image is written as ``images/<key>.png`` and then ``images/<key>.json`` (its
provenance, written last, is the commit mark). A job whose provenance exists with the same job hash
(template, slots, seed, reference hashes) is not run again, so a worker killed mid-batch redoes only
the unfinished images. A server that dies or stalls hands its job to the others; a workflow ComfyUI
refuses or a node that fails is that image's error (never a placeholder).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from memory.core.atomic import atomic_write
from pipelines.creative.comfy.client import ComfyClient
from pipelines.creative.comfy.workflow import Slot, Template, check, load
from pipelines.creative.errors import ComfyError, ComfyUnavailableError, CreativeError
from pipelines.creative.model import Character, Project, Review, Scene, SeedPolicy, utcnow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEED_SPACE = 2**48
SPRITE_SIZE = (832, 1216)
BG_SIZE = (1216, 832)


class ImageJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    template: str
    slots: dict[Slot, Any]
    seed: int
    reference: str | None = Field(default=None, description="reference image, relative to the project folder")
    reference_sha256: str | None = None
    attempt: int = 0

    def digest(self, template_sha: str) -> str:
        body = self.model_dump(mode="json") | {"template_sha256": template_sha}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class Provenance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    job_hash: str
    template: str
    template_sha256: str
    slots: dict[str, Any]
    seed: int
    references: list[dict[str, str]]
    prompt_id: str
    server: str
    node: str
    comfy_file: str
    sha256: str
    attempt: int
    made: datetime = Field(default_factory=utcnow)


def _seed(c: Character | None, key: str, attempt: int) -> int:
    policy = c.generation.seed_policy if c else SeedPolicy.PER_IMAGE
    base = c.generation.seed if c else 0
    if policy is SeedPolicy.RANDOM:
        return secrets.randbelow(SEED_SPACE)  # fixed from here on by the checkpointed plan
    if policy is SeedPolicy.FIXED:
        return (base + attempt) % SEED_SPACE  # a rejected image comes back with the next seed
    mix = int.from_bytes(hashlib.sha256(f"{key}:{attempt}".encode()).digest()[:6], "big")
    return (base + mix) % SEED_SPACE


def _attempts(project: Project) -> dict[str, int]:
    """Per image key: the attempt to make next (rejected ones count up), or -1 when a kept one exists."""
    out: dict[str, int] = {}
    for s in project.scenes.values():
        for img in s.images:
            if img.review is Review.REJECTED:
                out[img.key] = max(out.get(img.key, 0), img.attempt + 1)
            else:
                out[img.key] = -1
    return out


def sprite_keys(scene: Scene) -> list[tuple[str, str]]:
    """(character, expression) pairs the scene shows: each expression its lines use, else neutral."""
    pairs: list[tuple[str, str]] = []
    for cid in scene.characters:
        exprs = sorted({ln.expression or "neutral" for ln in scene.lines if ln.speaker == cid}) or ["neutral"]
        pairs.extend((cid, e) for e in exprs)
    return pairs


def needed_keys(project: Project, scene: Scene) -> list[str]:
    """Every image key the scene shows: its background (when the place has a prompt), then the sprites."""
    keys = [f"bg_{scene.place}"] if scene.place is not None and project.places[scene.place].background else []
    return keys + [f"{cid}_{expr}" for cid, expr in sprite_keys(scene)]


def plan(project: Project, scene: Scene) -> list[ImageJob]:
    """The images this scene still needs (a kept image of the same key, from any scene, is reused)."""
    attempts = _attempts(project)
    jobs: list[ImageJob] = []
    style = f"{project.style}, " if project.style else ""
    if scene.place is not None and project.places[scene.place].background:
        place = project.places[scene.place]
        key = f"bg_{place.id}"
        if attempts.get(key, 0) >= 0:
            n = attempts.get(key, 0)
            jobs.append(ImageJob(key=key, template=project.template, seed=_seed(None, key, n), attempt=n, slots={
                Slot.PROMPT: f"{style}{place.background}, visual novel background, no people",
                Slot.NEGATIVE: "people, text, watermark", Slot.WIDTH: BG_SIZE[0], Slot.HEIGHT: BG_SIZE[1],
                Slot.BATCH: 1}))
    for cid, expr in sprite_keys(scene):
        c = project.characters[cid]
        key = f"{cid}_{expr}"
        if attempts.get(key, 0) < 0:
            continue
        n = attempts.get(key, 0)
        g = c.generation
        ref = c.references[0] if c.references else None
        slots: dict[Slot, Any] = {
            Slot.PROMPT: f"{style}{c.appearance}, {expr.replace('_', ' ')} expression, visual novel character "
                         "sprite, plain background",
            Slot.NEGATIVE: g.negative or "blurry, extra limbs, text, watermark",
            Slot.WIDTH: SPRITE_SIZE[0], Slot.HEIGHT: SPRITE_SIZE[1], Slot.BATCH: 1,
            Slot.LORA: g.lora, Slot.LORA_WEIGHT: g.lora_weight if g.lora else None,
            Slot.REFERENCE_WEIGHT: g.reference_weight if ref else None}
        template = g.template or (project.reference_template if ref else project.template)
        jobs.append(ImageJob(key=key, template=template, slots=slots, seed=_seed(c, key, n), attempt=n,
                             reference=ref.path if ref else None, reference_sha256=ref.sha256 if ref else None))
    return jobs


@dataclass
class BatchReport:
    done: list[Provenance] = field(default_factory=list)
    reused: list[Provenance] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    servers_lost: list[str] = field(default_factory=list)
    servers_skipped: dict[str, str] = field(default_factory=dict)  # server -> why (too little free VRAM)


@dataclass
class ImageBatch:
    """One batch of jobs for one project folder, spread over ``servers`` (one worker each)."""

    servers: list[str]
    project_dir: Path
    templates_dir: Path | None = None
    timeout: float = 600.0
    request_timeout: float = 30.0
    on_done: Callable[[Provenance], Awaitable[None]] | None = None
    vram_gb: float = 0.0  # a server reporting less free VRAM (/system_stats) takes no job of this batch
    _templates: dict[str, Template] = field(default_factory=dict)

    @property
    def image_dir(self) -> Path:
        return self.project_dir / "images"

    def template(self, name: str) -> Template:
        if name not in self._templates:
            self._templates[name] = load(name, self.templates_dir)
        return self._templates[name]

    def finished(self, job: ImageJob) -> Provenance | None:
        """The stored provenance of this exact job, if its image is on disk."""
        prov = self.image_dir / f"{job.key}.json"
        try:
            p = Provenance.model_validate_json(prov.read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        ok = p.job_hash == job.digest(self.template(job.template).sha256)
        return p if ok and (self.image_dir / f"{job.key}.png").is_file() else None

    async def _triage(self, jobs: list[ImageJob], report: BatchReport) -> asyncio.Queue[ImageJob]:
        """The jobs still to run; finished ones go to ``report.reused``, unreadable ones to ``failed``."""
        queue: asyncio.Queue[ImageJob] = asyncio.Queue()
        for job in jobs:
            try:
                prev = await asyncio.to_thread(self.finished, job)
            except CreativeError as e:
                report.failed[job.key] = str(e)
                continue
            if prev is not None:
                report.reused.append(prev)
            else:
                queue.put_nowait(job)
        return queue

    async def run(self, jobs: list[ImageJob]) -> BatchReport:
        report = BatchReport()
        queue = await self._triage(jobs, report)
        alive = list(self.servers)
        if not alive and not queue.empty():
            raise ComfyUnavailableError("no ComfyUI server is configured ([creative] comfyui_urls)")
        while not queue.empty() and alive:
            results = await asyncio.gather(*(self._worker(url, queue, report) for url in alive))
            lost = [url for url, ok in zip(alive, results, strict=True) if not ok]
            report.servers_lost.extend(u for u in lost if u not in report.servers_skipped)
            alive = [url for url in alive if url not in lost]
        if not queue.empty():
            why = [f"{u}: {w}" for u, w in report.servers_skipped.items()] + [f"{u}: lost" for u in report.servers_lost]
            raise ComfyUnavailableError(f"{queue.qsize()} image(s) left and no ComfyUI server can take them "
                                        f"({'; '.join(why)}); finished ones are kept")
        return report

    async def _worker(self, url: str, queue: asyncio.Queue[ImageJob], report: BatchReport) -> bool:
        """Take jobs until the queue is empty (True) or this server fails (False; its job goes back)."""
        async with ComfyClient(url, request_timeout=self.request_timeout) as client:
            try:
                info = await client.object_info()
                free = await client.free_vram_gb()
            except ComfyError:
                return False
            if free is not None and free < self.vram_gb:
                report.servers_skipped[url] = f"{free:.1f} GB VRAM free, the batch needs {self.vram_gb:.1f} GB"
                return False
            while True:
                try:
                    job = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return True
                try:
                    prov = await self._generate(client, info, job)
                except ComfyUnavailableError:
                    queue.put_nowait(job)
                    return False
                except CreativeError as e:
                    report.failed[job.key] = str(e)
                    continue
                report.done.append(prov)
                if self.on_done is not None:
                    await self.on_done(prov)

    async def _generate(self, client: ComfyClient, info: dict[str, Any], job: ImageJob) -> Provenance:
        template = self.template(job.template)
        values: dict[Slot, Any] = {**job.slots, Slot.SEED: job.seed}
        refs: list[dict[str, str]] = []
        if job.reference is not None and template.has(Slot.REFERENCE):
            data = await asyncio.to_thread((self.project_dir / job.reference).read_bytes)
            sha = hashlib.sha256(data).hexdigest()
            if job.reference_sha256 is not None and sha != job.reference_sha256:
                raise CreativeError(f"reference image {job.reference} changed since it was added "
                                    f"(sha256 {sha[:12]}..., expected {job.reference_sha256[:12]}...)")
            name = await client.upload_image(data, f"{sha[:24]}.png")
            values[Slot.REFERENCE] = name
            refs.append({"path": job.reference, "sha256": sha, "uploaded_as": name})
        values = {k: values.get(k) for k in template.spec.slots}  # every slot; None: the template's own/bypassed
        wf = template.fill(values)
        check(wf, info, client.base)
        res = await client.run(wf, template.spec.output, self.timeout)
        img = res.images[0]
        data = await client.view(img)
        if not data.startswith(PNG_MAGIC):
            raise ComfyError(f"ComfyUI at {client.base} sent {img.filename!r}, which is not a PNG")
        prov = Provenance(key=job.key, job_hash=job.digest(template.sha256), template=template.name,
                          template_sha256=template.sha256, slots={k.value: v for k, v in values.items()},
                          seed=job.seed, references=refs, prompt_id=res.prompt_id, server=client.base,
                          node=img.node, comfy_file=img.filename, sha256=hashlib.sha256(data).hexdigest(),
                          attempt=job.attempt)
        await asyncio.to_thread(self._store, job.key, data, prov)
        return prov

    def _store(self, key: str, data: bytes, prov: Provenance) -> None:
        self.image_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.image_dir / f"{key}.png", data)
        atomic_write(self.image_dir / f"{key}.json", prov.model_dump_json(indent=1).encode())  # the commit mark
