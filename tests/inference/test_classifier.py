"""The hydra/auto classifier: the labelled sets, the held-out bar, features, hard rules and reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hydra_os.inference.auto_classifier import AutoClassifier
from hydra_os.inference.classifier import classify_body, extract
from hydra_os.inference.route_train import data_file, evaluate, parse_rows
from hydra_os.sections.inference import TIERS

HELDOUT = Path(__file__).resolve().parents[1] / "data" / "route_heldout.jsonl"
AUTO = AutoClassifier.load()  # the shipped weights


def _rows(name: str) -> list[dict[str, Any]]:
    if name == "heldout":
        return parse_rows(HELDOUT.read_text(), str(HELDOUT))
    return parse_rows(data_file(name), name)


def test_the_labelled_sets_are_well_formed_and_disjoint() -> None:
    rules_set, train, held = _rows("prompts.jsonl"), _rows("train.jsonl"), _rows("heldout")
    assert len(rules_set) >= 200 and len(train) + len(held) >= 600 and len(held) >= 200
    for rows in (rules_set, train, held):
        assert len({r["id"] for r in rows}) == len(rows)
        for t in TIERS:
            assert sum(r["tier"] == t for r in rows) >= 50
    assert all(r["split"] in ("train", "test") for r in rules_set)

    def text(r: dict[str, Any]) -> str:
        return r.get("prompt") or json.dumps(r["messages"])

    assert not {text(r) for r in held} & {text(r) for r in train + rules_set}  # nothing held out is trained on


def _check(report: dict[str, Any], accuracy: float, heavy_recall: float) -> None:
    assert report["fast_to_heavy"] == 0 and report["heavy_to_fast"] == 0, report["confusion"]
    assert report["accuracy"] >= accuracy, report
    assert report["heavy_recall"] >= heavy_recall, report


def test_held_out_meets_the_bar() -> None:
    """The issue's bar on prompts never trained or tuned on: accuracy >= 0.92, heavy recall >= 0.90, no
    two-tiers-off routing (measured 0.930 / 1.000 / 0; bench/router.py --classifier-only)."""
    _check(evaluate(lambda r: AUTO.classify(r).tier, _rows("heldout")), 0.92, 0.90)


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_rules_era_set(split: str) -> None:
    rows = [r for r in _rows("prompts.jsonl") if r["split"] == split]
    _check(evaluate(lambda r: AUTO.classify(r).tier, rows), 0.85, 0.85)


def test_the_rules_alone_still_work_as_the_fallback() -> None:
    rows = _rows("prompts.jsonl")
    rep = evaluate(lambda r: classify_body(r).tier, rows)
    assert rep["accuracy"] >= 0.85 and rep["fast_to_heavy"] == 0 and rep["heavy_to_fast"] == 0
    assert AutoClassifier(None).classify({"prompt": "hi"}).decided_by == "rules"


def test_features_and_reasons() -> None:
    f = extract({"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "hi"},
                              {"role": "assistant", "content": "hello"},
                              {"role": "user", "content": [{"type": "text", "text": "Prove it step by step"}]}]})
    assert f.user_turns == 2 and f.heavy_cues == 2 and f.ask_words == 5
    for classify in (classify_body, AUTO.classify):
        c = classify({"messages": [{"role": "user", "content": "hi"}]})
        assert c.tier == "fast" and c.reason
        c = classify({"prompt": "Tell me a story", "max_tokens": 8000})
        assert c.tier == "heavy" and "max_tokens 8000" in c.reason
        code = "Find the bug:\n```python\ndef f(x):\n    return x +\n```"
        c = classify({"messages": [{"role": "user", "content": code}]})
        assert c.tier != "fast"
        # very long prompts are scanned in bounded time and count as long
        c = classify({"messages": [{"role": "user", "content": "please read this. " * 20000}]})
        assert c.features.est_tokens > 80000 and c.tier != "fast"
        # malformed pieces are ignored rather than crashing
        assert classify({"messages": [None, {"role": "user", "content": None}]}).tier == "fast"
    assert "code in prompt" in classify_body({"messages": [{"role": "user", "content": code}]}).reason


def test_the_model_explains_itself() -> None:
    c = AUTO.classify({"messages": [{"role": "user", "content": (
        "Reconstruct the timeline of chapters 3 to 7 from my notes and reconcile the statements that "
        "contradict each other, then propose the smallest edits.")}]})
    assert c.decided_by == "model" and c.probs is not None and abs(sum(c.probs.values()) - 1) < 0.01
    assert c.tier == "heavy" and c.reason.startswith(f"model heavy p={c.probs['heavy']:.2f} by ")
    assert "; rules: " in c.reason  # the rule features that fired are named too
    assert c.reason.isascii() and "/" not in c.reason  # header-safe, and ' / ' separates header parts


def test_a_system_prompt_or_context_does_not_make_a_question_harder() -> None:
    """Memory context or a long system prompt is not a harder question: the tier follows the ask (up to
    the hard rule that keeps prompts over ~3,000 tokens off the fast tier)."""
    context = "You are a helpful assistant. What you know: " + "The owner runs NixOS on atlas with two 3090s. " * 60
    for ask in ("thanks!", "what port does ssh use", "explain how zfs snapshots work"):
        bare = AUTO.classify({"messages": [{"role": "user", "content": ask}]})
        with_context = AUTO.classify({"messages": [{"role": "system", "content": context},
                                                   {"role": "user", "content": ask}]})
        assert with_context.tier == bare.tier and with_context.probs == bare.probs, ask
    huge = AUTO.classify({"messages": [{"role": "system", "content": context * 6}, {"role": "user", "content": "hi"}]})
    assert huge.tier == "standard" and "prompt tokens (rule over model fast" in huge.reason
