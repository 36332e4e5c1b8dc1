"""The creative task kinds: one scene's dialogue -> images -> voices -> export as a resumable pipeline
(``creative.scene``), and an overnight batch of character assets (``creative.assets``).

Each stage's result is checkpointed by the step runner and its outcome written to the project
(``Scene.done`` lists the finished stages), so a worker killed mid-run resumes at the unfinished step
and, inside the image step, at the unfinished image (see :mod:`pipelines.creative.images`).
Parameters: ``project`` and ``scene`` (optional: the project's next unfinished scene is picked).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from hydra_os.chat.client import ChatModel
from hydra_os.errors import HydraError
from hydra_os.tasks.errors import PermanentTaskError
from hydra_os.tasks.registry import TaskContext, TaskRegistry
from hydra_os.tasks.steps import Pipeline, Step
from memory.protocols import MemoryStack, SearchFilters
from pipelines.creative.dialogue import DialogueRejectedError, write
from pipelines.creative.errors import CreativeNotFoundError
from pipelines.creative.images import BatchReport, ImageBatch, needed_keys, plan
from pipelines.creative.model import ImageAsset, Project, Review, Scene, Stage, utcnow
from pipelines.creative.renpy.export import export
from pipelines.creative.scorer import Scorer
from pipelines.creative.service import CreativeService, pick
from pipelines.creative.voice.lines import Voicer
from pipelines.creative_config import CreativeConfig
from pipelines.creative_kinds import ASSETS_KIND, SCENE_KIND

__all__ = ["ASSETS_KIND", "SCENE_KIND", "CreativeDeps", "build", "build_assets", "make_images", "register"]


COMFYUI = "comfyui"  # the kind GPU nodes announce their ComfyUI servers under (hydra_os.node.services)


@dataclass
class CreativeDeps:
    config: CreativeConfig
    service: CreativeService
    chat: ChatModel | None = None
    memory: Callable[[], Awaitable[MemoryStack]] | None = None
    announced: Callable[[], Awaitable[list[str]]] | None = None  # ComfyUI servers other nodes announce

    async def comfyui_urls(self) -> list[str]:
        """The configured ComfyUI servers, then those announced over the bus, each once."""
        extra: list[str] = []
        if self.announced is not None:
            try:
                extra = await self.announced()
            except HydraError as e:  # the bus is down: the configured servers still work
                logger.warning("announced ComfyUI servers unreadable: {}", e)
        return list(dict.fromkeys([*self.config.comfyui_urls, *extra]))

    def project_dir(self, project_id: str) -> Path:
        return self.service.store.dir(project_id)


def _mark(scene_id: str, stage: Stage, edit: Callable[[Scene], None] | None = None) -> Callable[[Project], Any]:
    def change(p: Project) -> dict[str, str]:
        s = p.scenes[scene_id]
        if edit is not None:
            edit(s)
        if stage not in s.done:
            s.done = [*s.done, stage]
        return {"stage": stage.value}

    return change


OWN_FACTS = {"has_name", "character_in", "place_in", "appears_at"}  # what the studio itself wrote


async def memory_context(deps: CreativeDeps, project: Project, scene: Scene) -> list[str]:
    """What memory knows about the project and the scene's characters: archival passages, then current
    graph facts about each character (not the studio's own bookkeeping facts)."""
    if deps.memory is None:
        return []
    out: list[str] = []
    try:
        stack = await deps.memory()
        hits = await stack.archival.search(f"{project.title} {scene.outline}", limit=5, filters=SearchFilters())
        out += [h.passage.text[:600] for h in hits]
        for cid in scene.characters:
            name = project.characters[cid].name
            facts = await stack.graph.facts_about(name, at=utcnow())
            out += [f"{f.subject} {f.type.replace('_', ' ')} {f.object}" for f in facts if f.type not in OWN_FACTS][:5]
    except HydraError:  # memory is context, not a prerequisite: the dialogue is written without it
        return out
    return out


def _assets(project: Project, scene: Scene, report: BatchReport, scores: dict[str, tuple[float | None, bool]]
            ) -> Callable[[Scene], None]:
    """The scene's image list: what this batch made or found on disk, else the kept image of the same key
    another scene already has (a sprite is made once per project)."""
    made = {pr.key: pr for pr in [*report.reused, *report.done]}
    kept = {i.key: i for sc in project.scenes.values() for i in sc.images if i.review is not Review.REJECTED}

    def edit(s: Scene) -> None:
        mine = {i.key: i for i in s.images}
        for key in needed_keys(project, scene):
            pr = made.get(key)
            if pr is None:
                if key in kept and key not in mine:
                    mine[key] = kept[key]
                continue
            score, outlier = scores.get(key, (None, False))
            same = key in mine and mine[key].sha256 == pr.sha256
            mine[key] = ImageAsset(key=key, path=f"images/{key}.png", sha256=pr.sha256, attempt=pr.attempt,
                                   provenance_path=f"images/{key}.json", score=score, outlier=outlier,
                                   review=mine[key].review if same else Review.PENDING)
        s.images = list(mine.values())

    return edit


def build(deps: CreativeDeps) -> Pipeline:
    cfg, svc = deps.config, deps.service

    async def choose(ctx: TaskContext, _: dict[str, Any]) -> dict[str, Any]:
        prm = ctx.params
        try:
            p, s = await pick(svc, prm.get("project"), prm.get("scene"), str(prm.get("request", "")))
        except CreativeNotFoundError as e:
            raise PermanentTaskError(str(e)) from None
        if s is None:
            raise PermanentTaskError(f"every scene of {p.title!r} is done; add one with 'hydra creative scene set'")
        return {"project": p.id, "scene": s.id, "title": s.title}

    async def dialogue(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        p = await svc.get(r["choose"]["project"])
        s = p.scenes[r["choose"]["scene"]]
        if Stage.DIALOGUE in s.done:
            return {"status": "kept", "lines": len(s.lines)}
        try:
            out = await write(deps.chat, p, s, cfg.dialogue_retries, await memory_context(deps, p, s))
        except DialogueRejectedError as e:
            raw, why = e.raw, str(e)

            def keep_raw(pr: Project) -> str:
                pr.scenes[s.id].dialogue_raw = raw
                return why

            await svc.store.mutate(p.id, "dialogue-rejected", f"scene:{s.id}", keep_raw)
            raise PermanentTaskError(why) from None
        if out.status != "done":
            return {"status": out.status, "reason": out.reason, "lines": 0}

        def put(sc: Scene) -> None:
            sc.lines, sc.choices, sc.dialogue_raw = out.lines, out.choices, None

        await svc.store.mutate(p.id, "dialogue", f"scene:{s.id}", _mark(s.id, Stage.DIALOGUE, put))
        return {"status": "done", "lines": len(out.lines), "choices": len(out.choices), "attempts": out.attempts}

    async def images(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        p = await svc.get(r["choose"]["project"])
        s = p.scenes[r["choose"]["scene"]]
        return await make_images(deps, p, s, ctx)

    async def voices(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        p = await svc.get(r["choose"]["project"])
        s = p.scenes[r["choose"]["scene"]]
        if Stage.DIALOGUE not in s.done:
            return {"status": "waiting-for-dialogue", "lines": 0}
        voicer = Voicer(cfg)
        try:
            voiced = await voicer.scene(p, s, deps.project_dir(p.id))
        finally:
            await voicer.close()
        by_line = {v.line: v for v in voiced}

        def put(sc: Scene) -> None:
            for ln in sc.lines:
                if ln.id in by_line:
                    ln.voice, ln.voice_seconds = by_line[ln.id].path, by_line[ln.id].seconds

        await svc.store.mutate(p.id, "voices", f"scene:{s.id}", _mark(s.id, Stage.VOICES, put))
        return {"status": "done", "lines": len(voiced), "made": sum(1 for v in voiced if not v.reused),
                "seconds": round(sum(v.seconds for v in voiced), 2)}

    async def export_step(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        p = await svc.get(r["choose"]["project"])
        s = p.scenes[r["choose"]["scene"]]
        out = deps.project_dir(p.id) / "export" / "renpy"
        report = await asyncio.to_thread(export, p, deps.project_dir(p.id), out)
        ready = all(st in s.done for st in (Stage.DIALOGUE, Stage.IMAGES, Stage.VOICES))
        if ready:
            _, p = await svc.store.mutate(p.id, "export", f"scene:{s.id}", _mark(s.id, Stage.EXPORT))
        memory = await svc.sync_memory(p)
        s = p.scenes[s.id]
        waiting = [ln.id for ln in s.lines if ln.review is Review.PENDING]
        waiting += [i.key for i in s.images if i.review is Review.PENDING]
        return {"path": report.path, "waiting_review": len(waiting), "labels": report.labels, "lines": report.lines,
                "images": report.images, "voices": report.voices, "missing": report.missing, "scene_done": ready,
                "memory": memory}

    def finish(r: dict[str, Any]) -> dict[str, Any]:
        return {"project": r["choose"]["project"], "scene": r["choose"]["scene"], "title": r["choose"]["title"],
                "summary": summary(r), "dialogue": r["dialogue"], "images": r["images"], "voices": r["voices"],
                "export": r["export"]}

    return Pipeline([Step("choose", choose), Step("dialogue", dialogue), Step("images", images),
                     Step("voices", voices), Step("export", export_step)], finish=finish)


def summary(r: dict[str, Any]) -> str:
    """One line for the task listing and the morning briefing: what was made, what failed, what waits."""
    d, i, v, e = r["dialogue"], r["images"], r["voices"], r["export"]
    parts = [f"scene '{r['choose']['title']}' ({r['choose']['project']}/{r['choose']['scene']})"]
    parts.append(f"dialogue {d['status']}" + (f" ({d['lines']} lines)" if d.get("lines") else ""))
    if i["status"] == "no-comfyui":
        parts.append("images: no ComfyUI server configured or announced")
    else:
        parts.append(f"images {i['made']} made, {i['reused']} reused, {len(i['failed'])} failed, "
                     f"{i['unscored']} unscored, {len(i['outliers'])} outliers")
    if v["status"] == "done":
        parts.append(f"voices {v['lines']} lines ({v['seconds']} s)")
    else:
        parts.append(f"voices {v['status']}")
    parts.append("exported to Ren'Py" + ("" if e["scene_done"] else f" (incomplete: {', '.join(e['missing'][:4])})"))
    parts.append(f"{e['waiting_review']} lines/images wait for your review ('hydra creative review')")
    return "; ".join(parts) + "."


async def make_images(deps: CreativeDeps, p: Project, s: Scene, ctx: TaskContext | None) -> dict[str, Any]:
    cfg = deps.config
    urls = await deps.comfyui_urls()
    if not urls:
        return {"status": "no-comfyui", "made": 0, "reused": 0, "failed": {}, "outliers": [], "unscored": 0}
    jobs = plan(p, s)

    async def beat(_: Any) -> None:
        if ctx is not None:
            await ctx.heartbeat()

    batch = ImageBatch(urls, deps.project_dir(p.id), cfg.templates_dir, cfg.comfyui_timeout_s,
                       cfg.comfyui_request_timeout_s, on_done=beat, vram_gb=cfg.vram_gb)
    report = await batch.run(jobs)  # ComfyUnavailableError: the task is retried; finished images stay
    scores = await Scorer(cfg).score_all(p, deps.project_dir(p.id), [*report.reused, *report.done])
    edit = _assets(p, s, report, scores)
    if report.failed:
        await deps.service.store.mutate(p.id, "images", f"scene:{s.id}", lambda pr: edit(pr.scenes[s.id]))
    else:
        await deps.service.store.mutate(p.id, "images", f"scene:{s.id}", _mark(s.id, Stage.IMAGES, edit))
    kept = len(needed_keys(p, s)) - len(jobs)
    return {"status": "done" if not report.failed else "partial", "made": len(report.done),
            "reused": len(report.reused) + kept, "failed": report.failed, "servers_lost": report.servers_lost,
            "servers_skipped": report.servers_skipped,
            "outliers": sorted(k for k, (_, out) in scores.items() if out),
            "unscored": sum(1 for sc, _ in scores.values() if sc is None)}


def build_assets(deps: CreativeDeps) -> Pipeline:
    """Images for every unfinished scene of a project (the overnight batch of character assets)."""

    async def batch(ctx: TaskContext, _: dict[str, Any]) -> dict[str, Any]:
        try:
            p, _s = await pick(deps.service, ctx.params.get("project"), None, str(ctx.params.get("request", "")))
        except CreativeNotFoundError as e:
            raise PermanentTaskError(str(e)) from None
        out: dict[str, Any] = {}
        for s in p.ordered_scenes():
            if Stage.IMAGES in s.done:
                continue
            out[s.id] = await make_images(deps, await deps.service.get(p.id), s, ctx)
        return {"project": p.id, "scenes": out}

    return Pipeline([Step("batch", batch)])


def register(registry: TaskRegistry, deps: CreativeDeps) -> None:
    registry.register(SCENE_KIND, build(deps), "Creative: one scene's dialogue, images, voices and Ren'Py export")
    registry.register(ASSETS_KIND, build_assets(deps), "Creative: images for every unfinished scene (overnight)")
