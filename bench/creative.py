"""The creative pipeline's own cost, and espeak-ng's speed.

    .venv/bin/python bench/creative.py [--scenes 20] [--lines 200]

1. Overhead: scenes of a two-character project go through the real stages (dialogue from the chat
   stand-in, images through the ComfyUI stand-in with no sampling delay, voices through the speech
   stand-in, Ren'Py export + validation), all on real HTTP/WebSocket on loopback, so what is timed is
   the pipeline's own work: prompts, schema checks, workflow fill + /object_info check, WebSocket
   following, /history + /view, provenance and atomic writes, WAV normalisation, store revisions,
   export. Reported per scene (median), per image and per line, and as scenes/hour.
2. espeak-ng: ``--lines`` dialogue lines synthesised one process each (as the pipeline does); seconds
   of audio per wall-clock second (median per line, and in total).

Prints a table and writes bench/results/creative.json. The machine is shared (2 cores, other agents'
work ran beside it): read the figures as orders of magnitude.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hydra_os.chat.client import OpenAIChat  # noqa: E402
from pipelines.creative.dialogue import write  # noqa: E402
from pipelines.creative.model import (  # noqa: E402
    ChapterIn,
    CharacterIn,
    PlaceIn,
    ProjectIn,
    SceneIn,
    Stage,
    Voice,
    VoiceEngine,
)
from pipelines.creative.ops import ChapterPut, CharacterPut, PlacePut, ProjectCreate, ScenePut  # noqa: E402
from pipelines.creative.pipeline import CreativeDeps, make_images  # noqa: E402
from pipelines.creative.renpy.export import export  # noqa: E402
from pipelines.creative.service import CreativeService  # noqa: E402
from pipelines.creative.store import ProjectStore  # noqa: E402
from pipelines.creative.voice.engines import espeak  # noqa: E402
from pipelines.creative.voice.lines import Voicer  # noqa: E402
from pipelines.creative.voice.wav import normalise  # noqa: E402
from pipelines.creative_config import CreativeConfig  # noqa: E402
from tests.standins.comfyui import ComfyStandin  # noqa: E402
from tests.standins.sources.chat_model import ChatStandin  # noqa: E402
from tests.standins.speech_server import SpeechStandin  # noqa: E402

OUT = REPO / "bench" / "results" / "creative.json"


async def project(svc: CreativeService, scenes: int) -> None:
    await svc.create_project(ProjectCreate(id="bench", project=ProjectIn(title="Bench Novel", style="painted")))
    for cid, name, voice in (("aria", "Aria", "af_bella"), ("zoe", "Zoe", "bf_emma")):
        await svc.put_character(CharacterPut(project="bench", id=cid, character=CharacterIn(
            name=name, appearance=f"{name} portrait", voice=Voice(engine=VoiceEngine.OPENAI, voice=voice))))
    await svc.put_place(PlacePut(project="bench", id="hall", place=PlaceIn(name="Hall", background="a hall")))
    await svc.put_chapter(ChapterPut(project="bench", id="ch1", chapter=ChapterIn(title="One", order=1)))
    for i in range(scenes):
        # a new place per scene, so every scene makes its background (sprites are made once per project)
        await svc.put_place(PlacePut(project="bench", id=f"p{i}", place=PlaceIn(name=f"Place {i}",
                                                                                background=f"place number {i}")))
        await svc.put_scene(ScenePut(project="bench", id=f"s{i}", scene=SceneIn(
            chapter="ch1", title=f"Scene {i}", order=i, outline=f"Aria and Zoe talk about thing {i}.",
            place=f"p{i}", characters=["aria", "zoe"])))


async def overhead(scenes: int, root: Path) -> dict[str, Any]:
    async with ChatStandin() as chat_s, ComfyStandin() as comfy, SpeechStandin() as speech:
        svc = CreativeService(ProjectStore(root / "creative"))
        await project(svc, scenes)
        cfg = CreativeConfig(comfyui_urls=[comfy.base], speech_url=speech.base_url)
        chat = OpenAIChat(chat_s.base_url, timeout_s=10)
        deps = CreativeDeps(cfg, svc, chat)
        voicer = Voicer(cfg)
        per_scene, per_image, per_line = [], [], []
        stage_times: dict[str, list[float]] = {"dialogue": [], "images": [], "voices": [], "export": []}
        try:
            for i in range(scenes):
                sid = f"s{i}"
                t0 = time.perf_counter()
                p = await svc.get("bench")
                out = await write(chat, p, p.scenes[sid], 2)

                def put(pr: Any, out: Any = out, sid: str = sid) -> None:
                    pr.scenes[sid].lines, pr.scenes[sid].done = out.lines, [Stage.DIALOGUE]

                await svc.store.mutate("bench", "dialogue", sid, put)
                t1 = time.perf_counter()
                p = await svc.get("bench")
                img = await make_images(deps, p, p.scenes[sid], None)
                t2 = time.perf_counter()
                p = await svc.get("bench")
                voiced = await voicer.scene(p, p.scenes[sid], deps.project_dir("bench"))
                t3 = time.perf_counter()
                p = await svc.get("bench")
                await asyncio.to_thread(export, p, deps.project_dir("bench"), deps.project_dir("bench") / "export")
                t4 = time.perf_counter()
                for k, v in zip(stage_times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                    stage_times[k].append(v)
                per_scene.append(t4 - t0)
                if img["made"]:
                    per_image.append((t2 - t1) / img["made"])
                if voiced:
                    per_line.append((t3 - t2) / len(voiced))
        finally:
            await voicer.close()
            await chat.close()
    med = statistics.median(per_scene)
    return {"scenes": scenes, "scene_s_median": round(med, 4), "scenes_per_hour": round(3600 / med),
            "image_s_median": round(statistics.median(per_image), 4),
            "line_s_median": round(statistics.median(per_line), 5),
            "stage_s_median": {k: round(statistics.median(v), 4) for k, v in stage_times.items()}}


async def espeak_speed(lines: int) -> dict[str, Any]:
    texts = [f"Line {i}: the crown is broken, and the empire with it; we ride at dawn." for i in range(lines)]
    ratios, audio_total, wall_total = [], 0.0, 0.0
    for t in texts:
        t0 = time.perf_counter()
        data = await espeak(t, Voice(voice="en-gb+f3", speed=1.0, pitch=50))
        wall = time.perf_counter() - t0
        seconds = normalise(data).seconds
        ratios.append(seconds / wall)
        audio_total += seconds
        wall_total += wall
    return {"lines": lines, "audio_s_per_s_median": round(statistics.median(ratios), 1),
            "audio_s_per_s_total": round(audio_total / wall_total, 1), "audio_s_total": round(audio_total, 1)}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--lines", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        over = await overhead(args.scenes, Path(tmp))
    speed = await espeak_speed(args.lines)
    result = {"bench": "creative", "host": platform.node(), "cpus": os.cpu_count(),
              "note": "shared 2-core VM; other agents' tests ran beside it",
              "overhead": over, "espeak_ng": speed, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"pipeline overhead: {over['scene_s_median'] * 1000:.0f} ms/scene median -> {over['scenes_per_hour']} "
          f"scenes/hour; {over['image_s_median'] * 1000:.1f} ms/image, {over['line_s_median'] * 1000:.1f} ms/line; "
          f"stages {over['stage_s_median']}")
    print(f"espeak-ng: {speed['audio_s_per_s_median']} s of audio per second (median per line), "
          f"{speed['audio_s_per_s_total']} overall, {speed['lines']} lines")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
