"""Write a project as a Ren'Py project folder and validate it with the subset parser.

``<out>/game/characters.rpy`` (one ``define`` per character: name and colour), ``game/images/``
(``bg <place>.png`` and ``<character> <expression>.png``: Ren'Py defines images from file names),
``game/audio/voice/`` (the line files), one ``game/chapter_<id>.rpy`` per chapter with a label per
scene (``scene``/``show``, dialogue with ``voice``, ``menu`` choices and ``jump``s) and
``game/script.rpy`` whose ``label start`` jumps to the first chapter. Rejected lines and images are
left out; a line or image not made yet is left out and counted as missing.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from memory.core.atomic import atomic_write
from pipelines.creative.errors import ExportError
from pipelines.creative.model import Project, Review, Scene
from pipelines.creative.renpy.parse import validate
from pipelines.creative.renpy.syntax import INDENT, check_ident, quote


@dataclass
class ExportReport:
    path: str
    labels: int = 0
    lines: int = 0
    images: int = 0
    voices: int = 0
    missing: list[str] = field(default_factory=list)


def _image_name(project: Project, key: str) -> str:
    if key.startswith("bg_") and key[3:] in project.places:
        return f"bg {key[3:]}"
    for cid in sorted(project.characters, key=len, reverse=True):
        if key.startswith(f"{cid}_"):
            return f"{cid} {key[len(cid) + 1:]}"
    return key


class _Writer:
    def __init__(self, project: Project, project_dir: Path, game: Path, report: ExportReport) -> None:
        self.p = project
        self.src = project_dir
        self.game = game
        self.r = report
        self.images: dict[str, str] = {}  # key -> Ren'Py image name, for the files copied

    def copy_images(self) -> None:
        (self.game / "images").mkdir(parents=True, exist_ok=True)
        for scene in self.p.scenes.values():
            for img in scene.images:
                if img.review is Review.REJECTED or img.key in self.images:
                    continue
                src = self.src / img.path
                if not src.is_file():
                    self.r.missing.append(f"image {img.key}")
                    continue
                name = _image_name(self.p, img.key)
                shutil.copyfile(src, self.game / "images" / f"{name}.png")
                self.images[img.key] = name
        self.r.images = len(self.images)

    def scene(self, scene: Scene, after: str) -> list[str]:
        out = [f"label scene_{check_ident(scene.id, 'scene id')}:"]
        if scene.place and f"bg_{scene.place}" in self.images:
            out.append(f"{INDENT}scene {self.images[f'bg_{scene.place}']}")
        shown: dict[str, str] = {}
        lines = [ln for ln in scene.lines if ln.review is not Review.REJECTED]
        for cid in scene.characters:
            first = next((ln.expression or "neutral" for ln in lines if ln.speaker == cid), "neutral")
            if f"{cid}_{first}" in self.images:
                out.append(f"{INDENT}show {self.images[f'{cid}_{first}']}")
                shown[cid] = first
        for ln in lines:
            out.extend(self.line(scene, ln.speaker, ln.text, ln.expression, ln.direction, ln.voice, shown))
        if not lines:
            self.r.missing.append(f"dialogue of scene {scene.id}")
        if scene.choices:
            out.append(f"{INDENT}menu:")
            for ch in scene.choices:
                out += [f"{INDENT * 2}{quote(ch.text)}:", f"{INDENT * 3}jump scene_{ch.jump}"]
        else:
            out.append(f"{INDENT}{after}")
        self.r.labels += 1
        return out

    def line(self, scene: Scene, who: str | None, text: str, expr: str, direction: str, voice: str | None,
             shown: dict[str, str]) -> list[str]:
        out: list[str] = []
        if direction:
            out.append(f"{INDENT}# {' '.join(direction.split())}")
        if who is not None and expr and shown.get(who) != expr and f"{who}_{expr}" in self.images:
            out.append(f"{INDENT}show {self.images[f'{who}_{expr}']}")
            shown[who] = expr
        if who is not None and voice:
            src = self.src / voice
            if src.is_file():
                dest = self.game / "audio" / "voice" / Path(voice).name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
                out.append(f'{INDENT}voice {quote(f"audio/voice/{dest.name}")}')
                self.r.voices += 1
            else:
                self.r.missing.append(f"voice of scene {scene.id}")
        out.append(f"{INDENT}{check_ident(who, 'character id') + ' ' if who else ''}{quote(text)}")
        self.r.lines += 1
        return out


def _chapter(w: _Writer, project: Project, chap: str, scenes: list[Scene]) -> str:
    body = [f"label chapter_{chap}:", f"{INDENT}jump scene_{next(s.id for s in scenes if s.chapter == chap)}", ""]
    for s in (s for s in scenes if s.chapter == chap):
        i = scenes.index(s)
        nxt = s.next or (scenes[i + 1].id if i + 1 < len(scenes) else None)
        body += [*w.scene(s, f"jump scene_{nxt}" if nxt else "return"), ""]
    return "\n".join(body)


def export(project: Project, project_dir: Path, out: Path) -> ExportReport:
    """Blocking (files): write the Ren'Py folder under ``out`` and validate it."""
    scenes = project.ordered_scenes()
    if not scenes:
        raise ExportError("the project has no scenes to export")
    game = out / "game"
    if game.exists():
        shutil.rmtree(game)  # an export is rebuilt whole; stale labels or files must not survive
    game.mkdir(parents=True)
    report = ExportReport(path=str(out))
    w = _Writer(project, project_dir, game, report)
    w.copy_images()
    chapters = sorted({s.chapter for s in scenes}, key=lambda c: (project.chapters[c].order, c))
    try:
        chars = [f"define {check_ident(c.id, 'character id')} = Character({quote(c.name)}, color=\"{c.colour}\")"
                 for c in sorted(project.characters.values(), key=lambda c: c.id)]
        files = {f"chapter_{chap}.rpy": _chapter(w, project, chap, scenes) for chap in chapters}
    except ValueError as e:
        raise ExportError(str(e)) from None
    atomic_write(game / "characters.rpy", ("\n".join(chars) + "\n").encode())
    for name, text in files.items():
        atomic_write(game / name, text.encode())
    atomic_write(game / "script.rpy", f"label start:\n{INDENT}jump chapter_{chapters[0]}\n".encode())
    validate(game)
    return report
