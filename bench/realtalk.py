"""The retrieval bench's datasets in one shape: the hand-written realtalk sets and the synthetic one.

``bench/data/realtalk_*.json`` are hand-written owner-assistant conversations (see
``bench/data/README.md``); ``bench/locomo_synth.py`` generates the synthetic LoCoMo-shaped set. Both
become a :class:`Dataset`: turns (id, role, text, time, session) and questions with evidence ids,
so ``bench/memory.py`` and ``tests/memory/test_realtalk.py`` run them through the same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
REALTALK = {"tuning": DATA / "realtalk_mara.json", "heldout": DATA / "realtalk_jonas.json",
            "heldout2": DATA / "realtalk_ines.json"}


@dataclass(frozen=True)
class Turn:
    id: str
    role: str  # "user" or "assistant"
    text: str
    at: datetime
    session: str


@dataclass(frozen=True)
class Question:
    id: str
    category: str
    question: str
    evidence: tuple[str, ...]
    superseded: tuple[str, ...] = ()


@dataclass
class Dataset:
    name: str
    turns: list[Turn]
    questions: list[Question]
    asked_at: datetime | None = None  # what "last week" in a question is relative to
    meta: dict[str, Any] = field(default_factory=dict)


def load_realtalk(path: Path) -> Dataset:
    """A hand-written conversation; a turn's id is its key, else ``S<session>:<turn>``."""
    raw = json.loads(path.read_text())
    turns: list[Turn] = []
    for si, sess in enumerate(raw["sessions"], 1):
        date = datetime.fromisoformat(sess["date"])
        for ti, t in enumerate(sess["turns"], 1):
            role, text = t[0], t[1]
            tid = t[2] if len(t) > 2 else f"S{si}:{ti}"
            turns.append(Turn(tid, role, text, date + timedelta(seconds=30 * (ti - 1)), f"S{si}"))
    qs = [
        Question(q["id"], q["category"], q["question"], tuple(q["evidence"]), tuple(q.get("superseded", ())))
        for q in raw["questions"]
    ]
    return Dataset(f"realtalk-{raw['id']} ({raw['split']})", turns, qs, datetime.fromisoformat(raw["asked_at"]),
                   {"split": raw["split"], "file": str(path.relative_to(DATA.parent.parent))})


def from_locomo(sample: dict[str, Any], name: str) -> Dataset:
    """A LoCoMo-shaped sample (the synthetic set or locomo10.json). Turns keep today's
    ``"<speaker>: <text>"`` text so the synthetic figures stay comparable with earlier runs;
    the first speaker is the owner (role user), the second the assistant."""
    from bench.locomo_synth import turns_of  # the synthetic module is only needed for this shape

    owner = sample["conversation"].get("speaker_a")
    turns = [
        Turn(dia, "user" if spk == owner else "assistant", f"{spk}: {text}", when, dia.split(":")[0])
        for dia, spk, text, when in turns_of(sample)
    ]
    qs = [
        Question(f"q{i}", str(q["category"]), q["question"], tuple(q.get("evidence", [])),
                 tuple(q.get("superseded", [])))
        for i, q in enumerate(sample["qa"], 1)
    ]
    last = max(t.at for t in turns)
    return Dataset(name, turns, qs, last + timedelta(days=3))
