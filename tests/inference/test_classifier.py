"""The hydra/auto classifier on the labelled prompt set, plus feature-level checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hydra_os.inference.classifier import classify_body, extract
from hydra_os.inference.config import TIERS

DATA = Path(__file__).resolve().parents[1] / "data" / "prompts.jsonl"


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def test_the_labelled_set_is_well_formed() -> None:
    rows = _rows()
    assert len(rows) >= 200
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["tier"] in TIERS and r["split"] in ("train", "test")
        assert ("prompt" in r) != ("messages" in r)
    for t in TIERS:
        assert sum(r["tier"] == t for r in rows) >= 50


@pytest.mark.parametrize("split", ["train", "test"])
def test_accuracy_on_the_labelled_set(split: str) -> None:
    rows = [r for r in _rows() if r["split"] == split]
    confusion = {a: dict.fromkeys(TIERS, 0) for a in TIERS}
    for r in rows:
        confusion[r["tier"]][classify_body(r).tier] += 1
    correct = sum(confusion[t][t] for t in TIERS)
    accuracy = correct / len(rows)
    # floors well under what bench/router.py reports, so a real regression fails and noise does not
    assert accuracy >= 0.85, confusion
    for t in TIERS:
        assert confusion[t][t] / sum(confusion[t].values()) >= 0.75, (t, confusion)
    # never two tiers off: a heavy ask classified fast (or the reverse) is the costly mistake
    assert confusion["heavy"]["fast"] == 0 and confusion["fast"]["heavy"] == 0, confusion


def test_features_and_reasons() -> None:
    f = extract({"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "hi"},
                              {"role": "assistant", "content": "hello"},
                              {"role": "user", "content": [{"type": "text", "text": "Prove it step by step"}]}]})
    assert f.user_turns == 2 and f.heavy_cues == 2 and f.ask_words == 5
    c = classify_body({"messages": [{"role": "user", "content": "hi"}]})
    assert c.tier == "fast" and c.reason
    c = classify_body({"prompt": "Tell me a story", "max_tokens": 8000})
    assert c.tier == "heavy" and "max_tokens 8000" in c.reason
    code = "Find the bug:\n```python\ndef f(x):\n    return x +\n```"
    c = classify_body({"messages": [{"role": "user", "content": code}]})
    assert c.tier != "fast" and "code in prompt" in c.reason
    # very long prompts are scanned in bounded time and count as long
    c = classify_body({"messages": [{"role": "user", "content": "please read this. " * 20000}]})
    assert c.features.est_tokens > 80000 and c.tier != "fast"
    # malformed pieces are ignored rather than crashing
    assert classify_body({"messages": [None, {"role": "user", "content": None}]}).tier == "fast"
