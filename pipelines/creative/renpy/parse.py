"""A parser for exactly the Ren'Py subset the exporter writes, used to validate every export.

Grammar (indentation is 4 spaces per level, no tabs; ``#`` comments and blank lines are skipped)::

    level 0:  define <ident> = Character("<string>", color="#rrggbb")
              label <ident>:
    level 1:  scene <image> | show <image> | voice "<string>" | <ident> "<string>" | "<string>"
              | jump <ident> | return | menu:
    level 2:  "<string>":           (a menu choice)
    level 3:  jump <ident>

Then the references: every jump names a label, every speaker a defined character, every image a
file in ``game/images/`` and every voice a file under ``game/``; ``label start`` exists. Errors name
the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.creative.errors import ExportError
from pipelines.creative.renpy.syntax import IDENT, IMAGE_NAME, KEYWORDS, unescape

STRING = r'"((?:[^"\\]|\\.)*)"'
DEFINE = re.compile(rf'^define ([A-Za-z_]\w*) = Character\({STRING}, color="(#[0-9a-fA-F]{{6}})"\)$')
LABEL = re.compile(r"^label ([A-Za-z_]\w*):$")
SHOW = re.compile(r"^(scene|show) ([A-Za-z0-9_]+(?: [A-Za-z0-9_]+)*)$")
VOICE = re.compile(rf"^voice {STRING}$")
SAY = re.compile(rf"^(?:([A-Za-z_]\w*) )?{STRING}$")
JUMP = re.compile(r"^jump ([A-Za-z_]\w*)$")
CHOICE = re.compile(rf"^{STRING}:$")


@dataclass
class Say:
    who: str | None
    text: str
    voice: str | None = None


@dataclass
class Menu:
    choices: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Label:
    name: str
    shown: list[tuple[str, str]] = field(default_factory=list)  # (scene|show, image)
    says: list[Say] = field(default_factory=list)
    menus: list[Menu] = field(default_factory=list)
    jumps: list[str] = field(default_factory=list)


@dataclass
class Script:
    characters: dict[str, tuple[str, str]] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)


class _Parser:
    def __init__(self, script: Script, name: str) -> None:
        self.s = script
        self.file = name
        self.label: Label | None = None
        self.menu: Menu | None = None
        self.choice: str | None = None
        self.voice: str | None = None
        self.no = 0

    def fail(self, msg: str) -> ExportError:
        return ExportError(f"{self.file}:{self.no}: {msg}")

    def text(self, body: str) -> str:
        try:
            return unescape(body)
        except ValueError as e:
            raise self.fail(f"bad string: {e}") from None

    def line(self, raw: str) -> None:
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise self.fail("a tab in the indentation")
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            return
        indent = len(raw) - len(raw.lstrip(" "))
        if indent % 4:
            raise self.fail(f"indentation of {indent} spaces is not a multiple of 4")
        level = indent // 4
        if level == 0:
            self.top(stripped)
        elif level == 1 and self.label is not None:
            self.statement(stripped)
        elif level == 2 and self.menu is not None:
            self.open_choice(stripped)
        elif level == 3 and self.choice is not None:
            self.choice_jump(stripped)
        else:
            raise self.fail(f"unexpected indentation (level {level}) for {stripped!r}")

    def top(self, st: str) -> None:
        self.close_menu()
        self.label = None
        if m := DEFINE.match(st):
            var = m.group(1)
            if var in KEYWORDS or var in self.s.characters:
                raise self.fail(f"character name {var!r} is reserved or defined twice")
            self.s.characters[var] = (self.text(m.group(2)), m.group(3))
        elif m := LABEL.match(st):
            if m.group(1) in self.s.labels:
                raise self.fail(f"label {m.group(1)!r} is defined twice")
            self.label = self.s.labels[m.group(1)] = Label(m.group(1))
        else:
            raise self.fail(f"not a define or label statement: {st!r}")

    def statement(self, st: str) -> None:
        assert self.label is not None
        self.close_menu()
        if self.voice is not None and not SAY.match(st):
            raise self.fail("a voice statement must be followed by the line it voices")
        if m := SHOW.match(st):
            self.label.shown.append((m.group(1), m.group(2)))
        elif m := VOICE.match(st):
            self.voice = self.text(m.group(1))
        elif m := JUMP.match(st):
            self.label.jumps.append(m.group(1))
        elif st == "return":
            pass
        elif st == "menu:":
            self.menu = Menu()
            self.label.menus.append(self.menu)
        elif (m := SAY.match(st)) and (m.group(1) is None or m.group(1) not in KEYWORDS):
            self.label.says.append(Say(m.group(1), self.text(m.group(2)), self.voice))
            self.voice = None
        else:
            raise self.fail(f"not a statement of the exported subset: {st!r}")

    def open_choice(self, st: str) -> None:
        if self.choice is not None:
            raise self.fail("the menu choice before this one has no jump")
        m = CHOICE.match(st)
        if not m:
            raise self.fail(f"expected a menu choice \"...\": got {st!r}")
        self.choice = self.text(m.group(1))

    def choice_jump(self, st: str) -> None:
        m = JUMP.match(st)
        if not m or self.menu is None or self.choice is None:
            raise self.fail(f"a menu choice must hold one jump, got {st!r}")
        self.menu.choices.append((self.choice, m.group(1)))
        self.choice = None

    def close_menu(self) -> None:
        if self.choice is not None:
            raise self.fail("a menu choice has no jump")
        if self.menu is not None and not self.menu.choices:
            raise self.fail("an empty menu")
        self.menu = None

    def end(self) -> None:
        self.no += 1
        self.close_menu()
        if self.voice is not None:
            raise self.fail("the file ends after a voice statement")


def parse(files: dict[str, str], script: Script | None = None) -> Script:
    s = script or Script()
    for name, text in sorted(files.items()):
        p = _Parser(s, name)
        for p.no, raw in enumerate(text.splitlines(), 1):
            p.line(raw)
        p.end()
    return s


def _label_problems(label: Label, s: Script, game: Path, images: set[str]) -> list[str]:
    targets = label.jumps + [t for m in label.menus for _, t in m.choices]
    out = [f"label {label.name}: jump to missing label {t!r}" for t in targets if t not in s.labels]
    for say in label.says:
        if say.who is not None and say.who not in s.characters:
            out.append(f"label {label.name}: speaker {say.who!r} is not defined")
        if say.voice is not None and not (game / say.voice).is_file():
            out.append(f"label {label.name}: voice file {say.voice!r} is missing")
    return out + [f"label {label.name}: no image file for {img!r}" for _, img in label.shown if img not in images]


def validate(game: Path) -> Script:
    """Parse every ``.rpy`` under ``game`` and check what the statements refer to."""
    files = {str(f.relative_to(game)): f.read_text(encoding="utf-8") for f in sorted(game.rglob("*.rpy"))}
    s = parse(files)
    problems = [] if "start" in s.labels else ["no label start"]
    images = {f.stem for f in (game / "images").glob("*.png")} if (game / "images").is_dir() else set()
    for label in s.labels.values():
        problems += _label_problems(label, s, game, images)
    if problems:
        raise ExportError("the Ren'Py export is not valid: " + "; ".join(problems))
    return s


__all__ = ["IDENT", "IMAGE_NAME", "Label", "Menu", "Say", "Script", "parse", "validate"]
