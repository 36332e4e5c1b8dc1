"""The Ren'Py script subset Hydra writes, and how text becomes a Ren'Py string literal.

Inside a Ren'Py string ``\\`` and ``"`` are escaped with a backslash and a newline is ``\\n``; in
dialogue, menu captions and character names ``{`` starts a text tag and ``[`` an interpolation, so
literal ones are doubled (``{{``, ``[[``). ``%`` is literal: Ren'Py 8 only substitutes ``%`` when
``config.old_substitutions`` is on, and it is off by default, so it is written as it is.
"""

from __future__ import annotations

import re

INDENT = "    "
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
IMAGE_NAME = re.compile(r"^[A-Za-z0-9_]+( [A-Za-z0-9_]+)*$")
KEYWORDS = frozenset({"scene", "show", "hide", "with", "voice", "menu", "jump", "call", "return", "label",
                      "define", "default", "image", "init", "python", "if", "elif", "else", "while", "pass",
                      "play", "stop", "queue", "pause", "window", "nvl", "extend", "narrator", "centered",
                      "config", "store", "renpy", "at", "as", "behind", "onlayer", "zorder", "expression"})


def escape(text: str) -> str:
    """``text`` as the body of a double-quoted Ren'Py dialogue string (text tags and interpolation off)."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return out.replace("{", "{{").replace("[", "[[")


def quote(text: str) -> str:
    return f'"{escape(text)}"'


def unescape(body: str) -> str:
    """The inverse of :func:`escape`; raises ValueError on what :func:`escape` never writes."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in ('"', "\\", "n"):
                raise ValueError(f"unknown escape \\{nxt} at {i}")
            out.append("\n" if nxt == "n" else nxt)
            i += 2
        elif ch in "{[":
            if body[i + 1: i + 2] != ch:
                what = "text tag" if ch == "{" else "interpolation"
                raise ValueError(f"a lone {ch!r} at {i} would start a Ren'Py {what}")
            out.append(ch)
            i += 2
        elif ch == '"':
            raise ValueError(f"an unescaped quote at {i}")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def check_ident(name: str, what: str) -> str:
    if not IDENT.match(name) or name in KEYWORDS:
        raise ValueError(f"{what} {name!r} is not a usable Ren'Py name")
    return name
