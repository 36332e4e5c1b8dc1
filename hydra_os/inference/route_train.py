"""Training and evaluating the ``hydra/auto`` model: the labelled data shipped in ``route_data/``,
stratified k-fold cross-validation, and the metrics the issue sets bars on (accuracy, heavy recall, and
the two-tiers-off confusions that must be 0).

Deterministic: rows are taken in file order, folds are assigned by a seeded shuffle per tier, and
:func:`route_model.fit` has no randomness, so the same data gives the same weights byte for byte.
Used by ``scripts/train_router.py`` (the shipped weights), ``hydra route retrain`` (the owner's
overrides added, weights into the state dir) and ``bench/router.py``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from hydra_os.inference.auto_classifier import AutoClassifier
from hydra_os.inference.classifier import read
from hydra_os.inference.endpoint import Tier
from hydra_os.inference.route_features import Lexical, lexical
from hydra_os.inference.route_model import FitConfig, RouteModel, fit
from hydra_os.sections.inference import TIERS

Row = Mapping[str, Any]
DEFAULT_FIT = FitConfig()


def parse_rows(text: str, where: str) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        r = json.loads(line)
        if r.get("tier") not in TIERS or ("prompt" in r) == ("messages" in r):
            raise ValueError(f"{where}:{n}: want 'tier' in {TIERS} and exactly one of 'prompt' / 'messages'")
        rows.append(r)
    return rows


def data_file(name: str) -> str:
    return resources.files("hydra_os.inference.route_data").joinpath(name).read_text()


def shipped_rows() -> list[dict[str, Any]]:
    """The shipped training data: the hand-written owner-style set and the train split of the rules' set
    (its test split and ``tests/data/route_heldout.jsonl`` are held out)."""
    rules_set = [r for r in parse_rows(data_file("prompts.jsonl"), "prompts.jsonl") if r.get("split") == "train"]
    return parse_rows(data_file("train.jsonl"), "train.jsonl") + rules_set


def examples(rows: Sequence[Row]) -> tuple[list[Lexical], list[int]]:
    xs, ys = [], []
    for r in rows:
        f, ask = read(r)
        xs.append(lexical(ask, f))
        ys.append(TIERS.index(r["tier"]))
    return xs, ys


def train(rows: Sequence[Row], cfg: FitConfig = DEFAULT_FIT) -> RouteModel:
    xs, ys = examples(rows)
    return fit(xs, ys, cfg)


def confusion_report(pairs: Sequence[tuple[Tier, Tier]]) -> dict[str, Any]:
    """Accuracy, per-tier recall and the confusion (rows = label, columns = routed) of (label, routed)."""
    cm = {a: dict.fromkeys(TIERS, 0) for a in TIERS}
    for label, routed in pairs:
        cm[label][routed] += 1
    n = len(pairs)
    recall = {t: round(cm[t][t] / max(1, sum(cm[t].values())), 4) for t in TIERS}
    return {"n": n, "accuracy": round(sum(cm[t][t] for t in TIERS) / max(1, n), 4), "recall": recall,
            "heavy_recall": recall["heavy"], "fast_to_heavy": cm["fast"]["heavy"],
            "heavy_to_fast": cm["heavy"]["fast"], "confusion": cm}


def evaluate(classify: Callable[[Row], Tier], rows: Sequence[Row]) -> dict[str, Any]:
    return confusion_report([(r["tier"], classify(r)) for r in rows])


def folds(rows: Sequence[Row], k: int, seed: int) -> list[int]:
    """A fold number per row, stratified by tier, from a seeded shuffle."""
    out = [0] * len(rows)
    rng = random.Random(seed)
    for t in TIERS:
        idx = [i for i, r in enumerate(rows) if r["tier"] == t]
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            out[i] = j % k
    return out


def cross_validate(rows: Sequence[Row], k: int = 5, seed: int = 0, cfg: FitConfig = DEFAULT_FIT) -> dict[str, Any]:
    """Pooled predictions of k models, each trained without its fold (vocabulary and scaling included)."""
    fold_of = folds(rows, k, seed)
    pairs: list[tuple[Tier, Tier]] = []
    for f in range(k):
        clf = AutoClassifier(train([r for r, g in zip(rows, fold_of, strict=True) if g != f], cfg))
        pairs += [(r["tier"], clf.classify(r).tier) for r, g in zip(rows, fold_of, strict=True) if g == f]
    return {"k": k, "seed": seed, **confusion_report(pairs)}


def write_weights(model: RouteModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(model.dumps())
    tmp.replace(path)  # a router loading at the same moment sees the old file or the new, never half
