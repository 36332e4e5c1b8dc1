"""Complexity classifier for ``hydra/auto``: cheap deterministic features -> ``fast`` / ``standard`` / ``heavy``.

The rules: a handful of precompiled regular expressions over the newest user turn (at most
``_SCAN`` characters of it), plus lengths, conversation depth and the requested ``max_tokens``. The
features add up to a score; two thresholds cut it into tiers. The reason names the features that
counted most, so ``x-hydra-route`` and ``hydra route explain`` can say why.

These rules route on their own only when no learned weights load; otherwise their features (and
score) are inputs of the learned model in :mod:`auto_classifier`, which routes ``hydra/auto``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra_os.inference.endpoint import Tier

_SCAN = 4000  # characters of the newest user turn the patterns look at (head and tail)

_HEAVY = re.compile(
    r"\b(prove|proof|derive|derivation|theorem|rigorous(?:ly)?|formal(?:ly)?|architecture|trade-?offs?|"
    r"critique|critical(?:ly)?|in[- ]depth|thorough|comprehensive|root cause|postmortem|step by step|"
    r"reason (?:about|through)|think (?:carefully|through)|analy[sz]e|analysis|evaluate|justify|"
    r"sensitivity analysis|complexity analysis|threat model|synthesi[sz]e|generali[sz]e|design (?:a|an|the|and)|"
    r"production[- ]quality|full implementation|complete(?:ly)?|detailed|failure modes?|"
    r"consistency model|correctness|hypothes[ie]s|recommend(?:ed)? (?:a |plan|setup)|plan (?:a|the)|"
    r"walk (?:me )?through|figure out|reconstruct|diagnos[ie]s|in detail)\b",
    re.IGNORECASE,
)
_STANDARD = re.compile(
    r"\b(explain|describe|summari[sz]e|write|draft|rewrite|outline|how (?:do|does|to|can|would)|why|"
    r"difference between|differs?|pros and cons|compare|recipes?|itinerary|example|steps|tutorial|guide|"
    r"plan|ideas|tips|consider|configure|set up|migrate|create|give me (?:a|five|\d+)|list \d+|"
    r"solve|calculate|show)\b",
    re.IGNORECASE,
)
_CODE_ASK = re.compile(
    r"\b(function|implement(?:ation)?|code|script|regex|sql|query|dockerfile|unit tests?|one-liner|"
    r"refactor|debug|bug|compiler|parser|api|class|interface|html|bash|python|rust|golang|go|c\+\+|"
    r"typescript|javascript|tla\+)\b",
    re.IGNORECASE,
)
_CODE_BLOCK = re.compile(r"```|^\s*(?:def |class |import |#include|SELECT |fn |func |\[\d\d:\d\d)", re.MULTILINE)
_MATH = re.compile(
    r"\d\s*[+\-*/^=]\s*\d|\b(integral|derivative|equation|probability|variance|matrix|eigen\w*|lemma|"
    r"induction|calculus|z-test|regression|irrational|prime|inequality|theorem|expected value)\b|\\frac",
    re.IGNORECASE,
)
_SIMPLE = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|ok(?:ay)?|yes|no|cool|good (?:morning|night)|what(?:'s| is| does)|"
    r"who |which |when |where |define|translate|convert|how many|spell|name |is |give me (?:one|an?) |"
    r"set |turn |pick |say |capitali[sz]e|fix the typo|remind me)",
    re.IGNORECASE,
)
_ACTION = re.compile(
    r"\b(explain|derive|prove|compare|design|compute|discuss|analy[sz]e|evaluate|write|implement|propose|"
    r"critique|justify|show|relate|estimate|model|quantify|include|consider|apply|generali[sz]e|connect|"
    r"build|recommend|reason|weigh|identify|plan|structure|find|confirm|enumerate|rank|synthesi[sz]e|"
    r"cover|handle|provide|conclude|develop|reconstruct|solve|think|make|use|extend|modify|check|"
    r"describe|present|give|assess|test|optimi[sz]e|refactor|debug|diagnose|summari[sz]e)\b",
    re.IGNORECASE,
)
_BRIEF = re.compile(r"\b(one (?:word|sentence|line)|short answer|briefly|in short|yes or no|just an example)\b",
                    re.IGNORECASE)
_LIST_ITEM = re.compile(r"(?:^|\n)\s*(?:\d+[.)]|[-*])\s+\S")


@dataclass(frozen=True, slots=True)
class Features:
    prompt_chars: int  # all messages together
    est_tokens: int  # rough prompt tokens (chars / 4)
    ask_words: int  # words in the newest user turn
    user_turns: int
    heavy_cues: int  # distinct heavy-ask cues (prove, design, trade-offs, step by step ...)
    standard_cues: int
    code_ask: bool
    code_block: bool
    math: bool
    actions: int  # distinct action verbs (explain, derive, compare, ...): a multi-step ask has several
    brief: bool  # asks for a one-word / short answer
    clauses: int  # commas, semicolons and list items in the ask: how many demands it makes
    simple: bool  # greeting / short factual opener
    max_tokens: int | None


@dataclass(frozen=True, slots=True)
class Classification:
    tier: Tier
    score: float  # the rule score
    reason: str
    features: Features
    probs: Mapping[Tier, float] | None = None  # the learned model's probabilities, when it decided
    decided_by: str = "rules"  # "rules" | "model" | "model+rule" (a hard rule overrode the model)
    ask: str = ""  # the scanned newest user turn (for the route records)


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts (or of strings)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, {"type": "image_url", ...}]
        return " ".join(
            p if isinstance(p, str) else p["text"]
            for p in content
            if isinstance(p, str) or (isinstance(p, dict) and isinstance(p.get("text"), str))
        )
    return ""


def extract(body: Mapping[str, Any]) -> Features:
    """Features of a chat (``messages``) or completions (``prompt``) request body."""
    return read(body)[0]


def read(body: Mapping[str, Any]) -> tuple[Features, str]:
    """The rule features of ``body`` and the scanned text of its newest user turn (what the learned
    model's lexical features are taken from)."""
    total, turns, ask = _conversation(body)
    scan = ask if len(ask) <= _SCAN else ask[: _SCAN // 2] + "\n" + ask[-_SCAN // 2 :]
    mt = body.get("max_tokens", body.get("max_completion_tokens"))
    return Features(
        prompt_chars=total,
        est_tokens=total // 4 + 1,
        ask_words=ask.count(" ") + 1 if ask else 0,
        user_turns=turns,
        heavy_cues=len({m.lower() for m in _HEAVY.findall(scan)}),
        standard_cues=len({m.lower() for m in _STANDARD.findall(scan)}),
        code_ask=_CODE_ASK.search(scan) is not None,
        code_block=_CODE_BLOCK.search(scan) is not None,
        math=_MATH.search(scan) is not None,
        actions=len({m.lower() for m in _ACTION.findall(scan)}),
        brief=_BRIEF.search(scan) is not None,
        clauses=scan.count(",") + scan.count(";") + len(_LIST_ITEM.findall(scan)),
        simple=_SIMPLE.match(scan) is not None,
        max_tokens=mt if isinstance(mt, int) and not isinstance(mt, bool) else None,
    ), scan


def _conversation(body: Mapping[str, Any]) -> tuple[int, int, str]:
    """(characters of text in all turns, user turns, the newest user turn) of a chat or completions body."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            prompt = " ".join(p for p in prompt if isinstance(p, str))
        ask = prompt if isinstance(prompt, str) else ""
        return len(ask), 1, ask
    total = turns = 0
    ask = ""
    for m in (m for m in messages if isinstance(m, dict)):
        t = content_text(m.get("content"))
        total += len(t)
        if m.get("role") == "user":
            turns += 1
            ask = t
    return total, turns, ask


STANDARD_AT = 1.0
HEAVY_AT = 3.5


def rule_parts(f: Features) -> list[tuple[float, str]]:
    """The rules' (weight, name) contributions; their sum is the rule score."""
    return [*_cue_parts(f), *_shape_parts(f), *_size_parts(f)]


def _cue_parts(f: Features) -> list[tuple[float, str]]:
    """What the ask is about: reasoning and explain/write cues, code, math."""
    parts: list[tuple[float, str]] = []
    if f.heavy_cues:
        parts.append((1.4 * min(f.heavy_cues, 4), f"{f.heavy_cues} reasoning cue{'s' if f.heavy_cues > 1 else ''}"))
    if f.standard_cues:
        parts.append((1.0 + 0.25 * min(f.standard_cues - 1, 2), "explain/write ask"))
    if f.code_block:
        parts.append((1.5, "code in prompt"))
    elif f.code_ask:
        parts.append((0.75, "code ask"))
    if f.math:
        parts.append((0.5, "math"))
    return parts


def _shape_parts(f: Features) -> list[tuple[float, str]]:
    """How the ask is put: its length, its steps, a wish for brevity, its clauses."""
    parts: list[tuple[float, str]] = []
    if f.ask_words >= 10:
        w = 0.5 if f.ask_words < 25 else 1.0 if f.ask_words < 45 else 1.5 if f.ask_words < 90 else 2.5
        parts.append((w, f"{f.ask_words}-word ask"))
    if f.actions >= 3:
        parts.append((1.0 if f.actions < 5 else 2.0, f"{f.actions}-step ask"))
    if f.brief:
        parts.append((-1.5, "asks for a short answer"))
    if f.clauses >= 4:
        parts.append((0.5 if f.clauses < 7 else 1.0, f"{f.clauses} clauses"))
    return parts


def _size_parts(f: Features) -> list[tuple[float, str]]:
    """How much goes in and may come out: prompt tokens, conversation depth, max_tokens; a short simple ask."""
    parts: list[tuple[float, str]] = []
    if f.est_tokens > 3000:
        parts.append((1.5 if f.est_tokens > 8000 else 0.75, f"~{f.est_tokens} prompt tokens"))
    if f.user_turns >= 4:
        parts.append((0.5, f"{f.user_turns} turns deep"))
    if f.max_tokens is not None and (w := _max_tokens_weight(f.max_tokens)):
        parts.append((w, f"max_tokens {f.max_tokens}"))
    if f.simple and f.ask_words <= 10:
        parts.append((-1.0, "short simple ask"))
    return parts


def _max_tokens_weight(max_tokens: int) -> float:
    if max_tokens >= 4000:
        return 3.5
    if max_tokens >= 1000:
        return 1.0
    return -2.0 if max_tokens <= 32 else 0.0


def classify(f: Features) -> Classification:
    """The rules alone (the fallback when no learned model is loaded, and a feature of the model)."""
    parts = rule_parts(f)
    score = sum(w for w, _ in parts)
    tier: Tier = "fast" if score < STANDARD_AT else "standard" if score < HEAVY_AT else "heavy"
    top = [name for w, name in sorted(parts, key=lambda p: -abs(p[0])) if (w > 0) == (tier != "fast")][:3]
    reason = ", ".join(top) if top else ("short plain ask" if tier == "fast" else "")
    return Classification(tier, round(score, 2), reason, f)


def classify_body(body: Mapping[str, Any]) -> Classification:
    """The rules alone on a request body (the learned router is :mod:`auto_classifier`)."""
    f, ask = read(body)
    c = classify(f)
    return Classification(c.tier, c.score, c.reason, f, ask=ask)
