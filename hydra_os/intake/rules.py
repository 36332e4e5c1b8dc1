"""Rule-based intent classification: the common forms of a request, no model needed.

Order matters and is fixed: clarify (nothing to act on) -> remember -> ops -> pipeline -> task ->
answer. Each rule returns an :class:`Intent` with a confidence; below ``AMBIGUOUS`` the intake asks
a model when one is available, else it uses the rule's best guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hydra_os.intake.timeparse import When

IntentName = Literal["answer", "task", "pipeline", "ops", "remember", "clarify"]
AMBIGUOUS = 0.6

_VAGUE = re.compile(
    r"^(?:(?:please\s+)?(?:do|fix|redo|repeat|delete|remove|stop|restart|start|research|generate|remind me|run|"
    r"check)\s*(?:it|that|this|them)?\s*(?:again)?|again|the usual|same as (?:yesterday|before|last time)|"
    r"(?:that|the) (?:thing|stuff|one)(?: we talked about| from (?:before|earlier|yesterday))?|you know what i mean|"
    r"whatever|ok(?:ay)?)\s*[.!?]*$"
)
_REMEMBER = re.compile(
    r"^(?:please\s+)?(?:remember|note|keep in mind|don't forget|for the record)\b(?:\s+that)?\s+(?P<what>.+)$"
    r"|^(?P<pref>(?:my (?:favou?rite|preferred) .+ is .+)|(?:i (?:prefer|like|use|always use|never use) .+)"
    r"|(?:from now on,? .+))$",
    re.IGNORECASE,
)
_UNITY = r"(?:service|unit|server|daemon|container)"
_OPS = [
    ("nixos.rollback", re.compile(r"\broll ?back\b.*\b(?:nixos|update|generation|change|config)|\brollback\b")),
    ("nixos.switch", re.compile(r"\b(?:rebuild|switch|upgrade|update)\b.*\bnixos\b|\bnixos-rebuild\b")),
    ("node.reboot", re.compile(r"\breboot\b|\brestart\s+(?:the\s+)?(?:[\w-]+\s+)?node\b")),
    ("model.start", re.compile(r"\b(?:start|load|serve|spin up)\b.*\b(?:model|\d+b\b|llama|qwen|mistral|gemma)")),
    ("model.stop", re.compile(r"\b(?:stop|unload|shut down)\b.*\b(?:model|\d+b\b|llama|qwen|mistral|gemma)")),
    ("disk.clean", re.compile(r"\b(?:free up|free|clean|clear|purge|prune)\b.*\b(?:disk|space|cache|caches)\b")),
    ("data.delete", re.compile(r"\b(?:delete|remove|wipe|erase)\b\s+(?:the |my |all |last |old )?\w+")),
    ("unit.restart", re.compile(r"\brestart\b\s+(?:the\s+)?(?!it\b|that\b|this\b)[\w.-]+")),
    ("unit.stop", re.compile(r"\bstop\b\s+(?:the\s+)?[\w.-]+\s+" + _UNITY)),
    ("unit.start", re.compile(r"\bstart\b\s+(?:the\s+)?[\w.-]+\s+" + _UNITY)),
]
_CREATIVE = re.compile(
    r"\b(?:continue|resume|pick up)\b.*\b(?:visual novel|vn|story|novel|chapter)\b"
    r"|\b(?:generate|render|draw|make|create|paint|design|export)\b.*\b(?:art|image|images|portrait|portraits|"
    r"sprite|sprites|scene|scenes|background|backgrounds|character sheets?|voice lines?|assets?|ren'?py)\b"
)
_BRIEFING = re.compile(r"\bbriefing\b")
_RESEARCH = re.compile(
    r"^(?:please\s+)?(?:research|look into|investigate|dig into|find out|read up on|compile (?:a report|sources)|"
    r"survey|summari[sz]e the (?:latest|news)|keep an eye on|track|gather sources|do a deep dive)\b\s*(?P<topic>.*)$"
)
_REMIND = re.compile(r"^(?:please\s+)?remind me\b\s*(?P<what>.*)$")
_POLITE_OPS = re.compile(r"^(?:can|could|would) you (?:please )?(?:restart|stop|start|reboot)\b")
_WH = re.compile(r"^(?:what|what's|whats|how|why|who|when|where|which|is|are|does|do|can|could|should|would|will)\b")
_QUESTION = re.compile(
    r"^(?:what|what's|whats|how|why|who|when|where|which|is|are|does|do|can|could|should|would|will|explain|"
    r"describe|write|draft|tell|give|help|translate|summari[sz]e|convert|compare|suggest|list|proofread|hi|hello|"
    r"hey|thanks|thank you|good (?:morning|evening|night))\b"
)


@dataclass(frozen=True)
class Intent:
    intent: IntentName
    kind: str | None
    subject: str
    confidence: float
    reason: str
    when: When | None = None
    question: str | None = None


def _strip_when(text: str, when: When | None) -> str:
    if when is None or not when.phrase:
        return text
    out = re.sub(re.escape(when.phrase), "", text, count=1, flags=re.IGNORECASE)
    return re.sub(r"\s{2,}", " ", out).strip(" ,.")


@dataclass(frozen=True)
class _Said:
    """One request in the forms the rules read: as written, lowercased, and without its time phrase."""

    raw: str
    lower: str
    body: str
    when: When | None


def _vague(r: _Said) -> Intent | None:
    if r.body and not _VAGUE.match(r.body):
        return None
    return Intent("clarify", None, "", 0.9, "nothing concrete to act on",
                  question="What should I do, and on what? Name the task, service or topic.")


def _remember(r: _Said) -> Intent | None:
    m = _REMEMBER.match(r.raw.strip(" ,.!?"))  # as written: "call me Sam" keeps the capital of the name
    if not m:
        return None
    what = (m.group("what") or m.group("pref") or r.body).strip()
    # a time inside a fact ("I wake up at 6:30") is part of the fact, not a schedule
    return Intent("remember", None, what, 0.9, "states a fact or preference to keep")


def _reminder(r: _Said) -> Intent | None:
    m = _REMIND.match(r.body)
    if not m:
        return None
    what = re.sub(r"^(?:to|that|about)\s+", "", m.group("what")).strip()
    if not what or r.when is None:
        return Intent("clarify", "reminder", what, 0.8, "a reminder needs what and when",
                      question="What should I remind you of, and when?")
    return Intent("task", "reminder", what, 0.9, "a reminder at a given time", when=r.when)


def _ops(r: _Said) -> Intent | None:
    if _QUESTION.match(r.body) and not _POLITE_OPS.match(r.body):
        return None
    for kind, rx in _OPS:
        if rx.search(r.body):
            return Intent("ops", kind, r.body, 0.85, f"an operations request ({kind})", when=r.when)
    return None


def _pipeline(r: _Said) -> Intent | None:
    if _BRIEFING.search(r.body) and not _WH.match(r.body):
        return Intent("pipeline", "briefing", "briefing", 0.9, "asks for the briefing", when=r.when)
    if _CREATIVE.search(r.body) and not r.body.startswith(("describe", "list", "what", "how", "why")):
        return Intent("pipeline", "creative", r.body, 0.85, "creative project work", when=r.when)
    return None


def _research(r: _Said) -> Intent | None:
    m = _RESEARCH.match(r.body)
    if not m:
        return None
    topic = re.sub(r"^(?:on|about|into|whether|what|the)\s+", "", m.group("topic")).strip()
    if len(topic) < 3:
        return Intent("clarify", "research", "", 0.8, "research without a topic",
                      question="What topic should I research?")
    return Intent("task", "research", topic, 0.9, "a research request", when=r.when)


def _fallback(r: _Said) -> Intent:
    if _QUESTION.match(r.body) or r.raw.endswith("?"):
        return Intent("answer", None, r.raw, 0.85, "a question or a direct ask", when=r.when)
    if r.when is not None and r.when.kind != "now":
        return Intent("task", "research", r.body, 0.5, "something to do later; guessed research", when=r.when)
    return Intent("answer", None, r.raw, 0.55, "no rule matched; answering directly", when=r.when)


# In order: the first rule that recognises the request decides. A reminder's text may name anything
# ("remind me to restart the router"), so reminders come before operations.
_RULES: tuple[Callable[[_Said], Intent | None], ...] = (_vague, _remember, _reminder, _ops, _pipeline, _research)


def classify(text: str, when: When | None) -> Intent:
    raw = text.strip()
    s = raw.lower().strip()
    body = _strip_when(s, when).strip(" ,.!?") or s
    said = _Said(raw, s, re.sub(r"[,\s]+(?:please|pls)$", "", body), when)
    for rule in _RULES:
        if (intent := rule(said)) is not None:
            return intent
    return _fallback(said)
