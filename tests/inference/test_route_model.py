"""The learned router's training: deterministic, reproduces the shipped weights, learns, and explains
its decisions by the features that actually moved them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hydra_os.inference.auto_classifier import AutoClassifier
from hydra_os.inference.classifier import read
from hydra_os.inference.route_features import DENSE, lexical
from hydra_os.inference.route_model import FitConfig, RouteModel, feature_label
from hydra_os.inference.route_train import cross_validate, folds, shipped_rows, train
from tests.helpers import REPO

FAST = FitConfig(iterations=60)
TOY = [
    {"tier": "fast", "prompt": "hi there"}, {"tier": "fast", "prompt": "thanks a lot"},
    {"tier": "fast", "prompt": "what port is ssh"}, {"tier": "fast", "prompt": "ok cool thanks"},
    {"tier": "standard", "prompt": "explain how a hash map works"},
    {"tier": "standard", "prompt": "explain what a flake is"},
    {"tier": "standard", "prompt": "write a short email to my landlord"},
    {"tier": "heavy", "prompt": "zebra the whole timeline of my notes"},
    {"tier": "heavy", "prompt": "zebra my three budget sheets"},
    {"tier": "heavy", "prompt": "zebra the chapter summaries and the sheets"},
]


def test_training_is_deterministic_and_round_trips() -> None:
    rows = shipped_rows()[:120]
    a, b = train(rows, FAST), train(rows, FAST)
    assert a.dumps() == b.dumps()
    again = RouteModel.from_json_text(a.dumps())
    assert again.dumps() == a.dumps()
    f, ask = read(rows[0])
    assert np.allclose(again.probs(lexical(ask, f)), a.probs(lexical(ask, f)), atol=1e-5)
    assert folds(rows, 5, 0) == folds(rows, 5, 0) and sorted(set(folds(rows, 5, 0))) == [0, 1, 2, 3, 4]


@pytest.mark.timeout(900)  # a real training run; the test box is shared
def test_the_shipped_weights_are_what_the_training_script_writes() -> None:
    r = subprocess.run([sys.executable, "scripts/train_router.py", "--check"], cwd=REPO, capture_output=True,
                       text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "weights reproduce" in r.stdout


def test_it_learns_and_names_the_feature_that_decided() -> None:
    clf = AutoClassifier(train(TOY, FitConfig(iterations=300, min_docs=2)))
    for r in TOY:
        assert clf.classify(r).tier == r["tier"], r
    c = clf.classify({"prompt": "zebra my chapter summaries"})
    assert c.tier == "heavy" and c.reason.startswith("model heavy") and "'zebra'" in c.reason.split(";")[0]
    assert c.decided_by == "model"
    # the named features are the largest contributions to heavy over its rival
    assert clf.model is not None
    f, ask = read({"prompt": "zebra my chapter summaries"})
    d = clf.model.decide(lexical(ask, f), top=50)
    contribs = [c for c, _ in d.top]
    assert contribs == sorted(contribs, reverse=True) and all(v > 0 for v in contribs)
    assert "'zebra'" in {feature_label(n) for _, n in d.top[:3]}


def test_cross_validation_holds_folds_out() -> None:
    rep = cross_validate(TOY * 3, k=3, cfg=FitConfig(iterations=100))
    assert rep["n"] == 30 and set(rep["confusion"]) == {"fast", "standard", "heavy"}


def test_feature_labels() -> None:
    assert feature_label("w:prove") == "'prove'" and feature_label("b:show_that") == "'show that'"
    assert feature_label("p:recon") == "'recon*'" and feature_label("f:why") == "opens with 'why'"
    assert feature_label("len:words<=3") == "<=3 words" and feature_label("!len:words>120") == "not >120 words"
    assert feature_label("!len:log_words") == "short ask" and feature_label("rule:heavy_cues") == "reasoning cues"
    assert all(feature_label(n).isascii() for n in DENSE)
