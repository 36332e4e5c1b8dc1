"""Rules that find what an owner's chat turn states about themselves: preferences and project progress.

No model needed, so the default install keeps preferences said in any phrasing the rules know ("I prefer
metric units", "call me Sam", "shorter answers please", "I don't eat pork anymore") and project states
("I finished chapter 3 of the visual novel"). A model, when one is configured, extracts more (see
:class:`memory.extract.ChatExtractor`); these rules run always.

A :class:`Preference` has a ``key`` (one line of the ``preferences`` block and the single-valued graph
relation ``prefers_<key>``) so a changed preference replaces the old one instead of adding a second.

A change said without naming what changed ("I switched to Neovim", "these days I use Neovim") is a
:class:`Change`; it becomes a preference only against what is already kept (:func:`preferences` with
``known``, the current ``key: value`` lines): its key is the one whose value it replaces ("from Helix"), or
whose value is the same kind of thing (Helix and Neovim are both editors). Anything else stays a plain
passage: a guessed key would put a wrong line into every later context.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


@dataclass(frozen=True, slots=True)
class Preference:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class ProjectState:
    project: str
    state: str


_ASKING = re.compile(r"^(?:should|shall|can|could|would|do|does|did|is|are|will|how|what|why|when|where|which)\b",
                     re.I)


def _question(sentence: str) -> bool:
    """A question states nothing ("should I use metric units?"), a request ("please use metric") does."""
    s = sentence.strip()
    return s.endswith("?") or bool(_ASKING.match(s))


def asks(text: str) -> bool:
    """Whether any sentence of ``text`` is a question ("call me Sam" asks nothing; "I use Neovim now, how
    do I set up LSP?" does)."""
    return any(_question(s) for s in _SENTENCE.split(text) if s.strip())


def _clean(value: str) -> str:
    return value.strip().strip(" .!,;:\"'").strip()


_UNITS = re.compile(r"\b(?:i (?:prefer|use|want|like)|please use|use)\s+(?:the\s+)?"
                    r"(?P<v>metric|imperial|si|us customary)(?:\s+units?)?\b", re.I)
# the name itself must be capitalised (case-sensitive group): "call me Sam from now on" -> Sam
_NAME = re.compile(r"\b(?:call me|my name is|i'?m called|i go by)\s+(?P<v>(?-i:[A-Z][\w'-]{0,30}"
                   r"(?:\s+[A-Z][\w'-]{0,30})?))", re.I)
_LENGTH = re.compile(r"\b(?P<v>short(?:er)?|brief(?:er)?|concise|long(?:er)?|detailed|more detailed)\s+"
                     r"(?:answers|replies|responses)\b", re.I)
_LENGTH2 = re.compile(r"\bkeep (?:it|your answers|answers) (?P<v>short|brief|concise)\b", re.I)
_DIET_NOT = re.compile(r"\bi (?:don'?t|do not|no longer|can'?t|cannot|never) eat\s+(?P<v>[\w -]{2,40}?)"
                       r"(?:\s+(?:anymore|any more|now|these days))?\s*$", re.I)
_DIET_NOW = re.compile(r"\bi(?:'m| am) (?:a |now a |now )?(?P<v>vegetarian|vegan|pescatarian|omnivore)\b", re.I)
_DIET_AGAIN = re.compile(r"\bi (?:eat|started eating) (?P<v>[\w -]{2,40}?) again\b", re.I)
_FAVOURITE = re.compile(r"\bmy (?:favou?rite|preferred) (?P<k>[a-z][\w -]{0,30}?) is (?:now )?(?P<v>[^,.;!?]{1,60})",
                        re.I)
_PREFER_X = re.compile(r"\bi (?:now )?prefer (?P<v>[^,.;!?]{1,60}?) (?:for|as) (?:my )?(?P<k>[a-z][\w -]{0,30})$",
                       re.I)
_SWITCHED = re.compile(r"\bi (?:switched|moved|changed) (?:my (?P<k>[a-z][\w -]{0,30}?) )?to (?P<v>[^,.;!?]{1,60})",
                       re.I)


# "I switched to Neovim", "I've moved from Helix to Neovim", "I changed over to fish last week"
_CHANGED = re.compile(r"^(?:so |well |actually,? |oh,? )?i(?:'ve| have)?\s+(?:just |now |recently |finally )?"
                      r"(?:switched|moved|changed|migrated|went|gone)(?: over| back)?"
                      r"(?: from (?P<old>[^,;:]{1,60}?))? to (?P<v>[^,;:]{1,60}?)"
                      r"(?:\s+(?:now|these days|nowadays|instead|recently|today|yesterday|last \w+|this \w+))?"
                      r"\s*(?:,.*)?$", re.I)
# "I use Neovim now", "these days I use Neovim", "I'm using Neovim now", "I now use Neovim" (a marker of
# change is required: "I use Neovim" alone may be one tool of several)
_USES_NOW = re.compile(r"^(?:(?P<pre>these days|nowadays|lately|now),?\s+)?i(?:'m| am)?\s+(?P<now>now\s+)?"
                       r"(?:use|using)\s+(?P<v>[^,;:]{1,60}?)"
                       r"(?:\s+(?P<post>now|these days|nowadays|instead(?: of (?P<old>[^,;:]{1,60}?))?))?"
                       r"\s*(?:,.*)?$", re.I)
# Kinds of tools an owner switches between. A keyless change is read only when its value is one of a kind
# and a kept preference's value is of the same kind: two editors, two shells.
_KINDS: tuple[frozenset[str], ...] = (
    frozenset({"vim", "neovim", "nvim", "helix", "hx", "emacs", "doom emacs", "spacemacs", "vs code", "vscode",
               "visual studio code", "vscodium", "sublime", "sublime text", "zed", "nano", "kakoune", "micro",
               "intellij", "pycharm", "cursor"}),
    frozenset({"bash", "zsh", "fish", "nushell", "nu", "xonsh", "elvish", "oil", "ksh", "tcsh"}),
    frozenset({"firefox", "chrome", "chromium", "brave", "safari", "librewolf", "vivaldi", "edge", "qutebrowser",
               "zen", "zen browser", "ungoogled chromium"}),
    frozenset({"alacritty", "kitty", "wezterm", "foot", "ghostty", "iterm2", "iterm", "gnome terminal",
               "konsole", "st", "xterm", "tmux", "zellij", "screen"}),
    frozenset({"sway", "hyprland", "i3", "gnome", "kde", "kde plasma", "plasma", "xfce", "awesome", "bspwm",
               "niri", "river", "cosmic"}),
    frozenset({"ollama", "llama.cpp", "vllm", "lm studio", "koboldcpp", "text-generation-webui", "sglang"}),
)


@dataclass(frozen=True, slots=True)
class Change:
    """A change said without naming what changed: the new value and, when said, the old one."""

    value: str
    old: str | None = None


def changes(text: str) -> list[Change]:
    """The keyless changes the owner states in ``text`` ("I switched to Neovim"); questions state none."""
    out: list[Change] = []
    for sentence in _SENTENCE.split(text):
        s = sentence.strip().rstrip(" .!")
        named = _SWITCHED.search(s)
        if not s or _question(s) or (named is not None and named.group("k")):  # "my editor": _favourite's
            continue
        m = _CHANGED.match(s)
        if m is None and (u := _USES_NOW.match(s)) and (u.group("pre") or u.group("now") or u.group("post")):
            m = u
        if m is not None and (value := _clean(m.group("v"))):
            out.append(Change(value, _clean(m.group("old")) if m.group("old") else None))
    return out


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def _kind(value: str) -> frozenset[str] | None:
    return next((k for k in _KINDS if value.strip().lower() in k), None)


def change_key(change: Change, known: Mapping[str, str]) -> str | None:
    """The kept preference a keyless change replaces: the one whose value it names as the old one, else the
    one whose value is the same kind of tool; None when neither is known (never a guess)."""
    if change.old is not None and (key := next((k for k, v in known.items() if _same(v, change.old)), None)):
        return key
    if (kind := _kind(change.value)) is None:
        return None
    return next((k for k, v in known.items() if _same(v, change.value) or v.strip().lower() in kind), None)


def _changed(s: str, known: Mapping[str, str]) -> Said:
    return [(key, c.value) for c in changes(s) if (key := change_key(c, known)) is not None]


_KEPT_LINE = re.compile(r"^(?P<k>[a-z0-9_]+):\s*(?P<v>\S.*)$")


def kept_preferences(block: str) -> dict[str, str]:
    """The ``key: value`` lines of the ``preferences`` block (as ``MemoryWriter.record_preference`` writes)."""
    return {m.group("k"): m.group("v").strip() for ln in block.splitlines() if (m := _KEPT_LINE.match(ln.strip()))}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


Said = list[tuple[str, str]]
"""(key, value) pairs one kind of statement makes in a sentence, in the order said."""


def _units(s: str) -> Said:
    return [("units", m.group("v").lower())] if (m := _UNITS.search(s)) else []


def _name(s: str) -> Said:
    return [("name", _clean(m.group("v")))] if (m := _NAME.search(s)) else []


def _answer_length(s: str) -> Said:
    if not (m := _LENGTH.search(s) or _LENGTH2.search(s)):
        return []
    v = m.group("v").lower()
    return [("answer_length", "short" if v.startswith(("short", "brief", "concise")) else "detailed")]


def _diet(s: str) -> Said:
    out: Said = []
    if m := _DIET_NOT.search(s.rstrip(" .!")):
        out.append((f"diet_{_key(m.group('v'))}"[:40], f"does not eat {_clean(m.group('v'))}"))
    if m := _DIET_AGAIN.search(s):
        out.append((f"diet_{_key(m.group('v'))}"[:40], f"eats {_clean(m.group('v'))}"))
    if m := _DIET_NOW.search(s):
        out.append(("diet", m.group("v").lower()))
    return out


def _favourite(s: str) -> Said:
    """"my favourite X is Y", else "I prefer Y for X" (not units), else "I switched my X to Y"."""
    m = _FAVOURITE.search(s)
    if m is None and not _UNITS.search(s):  # "I prefer metric for units" is the units rule's
        m = _PREFER_X.search(s.rstrip(" .!"))
    if m is None and (switched := _SWITCHED.search(s)) and switched.group("k"):
        m = switched
    return [(_key(m.group("k")), _clean(m.group("v")))] if m else []


# Every kind of statement is read in every sentence, in this order (a later one wins on the same key).
_SAYINGS: tuple[Callable[[str], Said], ...] = (_units, _name, _answer_length, _diet, _favourite)


def preferences(text: str, known: Mapping[str, str] | None = None) -> list[Preference]:
    """Preferences the owner states in ``text`` (one per key, the last said wins). With ``known`` (the kept
    ``key: value`` lines), keyless changes whose key is safe to tell are read too (:func:`change_key`)."""
    found: dict[str, str] = {}
    for sentence in _SENTENCE.split(text):
        s = sentence.strip()
        if not s or _question(s):
            continue
        for said in _SAYINGS:
            found.update(said(s))
        found.update(_changed(s, known) if known is not None else [])
    return [Preference(k, v) for k, v in found.items() if k and v]


_PROGRESS = re.compile(
    r"\bi(?:'ve| have)?\s*(?:just\s+)?(?P<verb>finished|completed|wrapped up|started|began|drafted|shipped|"
    r"released|paused|abandoned|am (?:now )?working on|'m (?:now )?working on|rewrote|fixed)\s+"
    r"(?P<what>.+?)\s+(?:of|on|for|in)\s+(?:the\s+|my\s+)?(?P<project>[\w][\w '-]{1,60}?)"
    r"\s*(?:[,;:.!?]|\s(?:and|but|so|because|which|today|yesterday|now|last|this)\b|$)",
    re.I,
)
_DONE = re.compile(r"\b(?:the\s+|my\s+)?(?P<project>[\w][\w '-]{1,60}?) is (?:now )?(?P<state>done|finished|"
                   r"on hold|paused|shipped|released|abandoned|(?:almost|nearly|half) (?:done|finished))\b", re.I)


def project_states(text: str) -> list[ProjectState]:
    """Project progress the owner states: ``ProjectState("visual novel", "finished chapter 3")``."""
    out: dict[str, ProjectState] = {}
    for sentence in _SENTENCE.split(text):
        if _question(sentence):
            continue
        s = sentence.strip().rstrip(" .!")
        if m := _PROGRESS.search(s):
            verb = m.group("verb").lower().replace("'m", "am")
            project = _clean(m.group("project"))
            out[project.lower()] = ProjectState(project, f"{verb} {_clean(m.group('what'))}")
        elif m := _DONE.search(s):
            project = _clean(m.group("project"))
            if project.lower() not in ("it", "this", "that", "there", "everything"):
                out[project.lower()] = ProjectState(project, m.group("state").lower())
    return list(out.values())


def project_line_update(block: str, state: ProjectState, date: str, limit: int) -> str:
    """The ``projects`` block with ``state``'s line set (``<project>: <state> (as of <date>)``): the line
    naming the project replaced, else added; oldest other lines dropped to keep within ``limit`` chars."""
    line = f"{state.project}: {state.state} (as of {date})"
    name = state.project.lower()
    lines = [ln for ln in block.splitlines() if ln.strip()]
    kept = [ln for ln in lines if name not in ln.lower().split(":", 1)[0]]  # the head names the project
    out = [*kept, line]
    while len("\n".join(out)) > limit and len(out) > 1:
        out.pop(0)  # the oldest line goes first; the new state always stays
    text = "\n".join(out)
    return text[:limit]
