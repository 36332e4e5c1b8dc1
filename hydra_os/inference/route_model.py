"""The learned part of the ``hydra/auto`` router: multinomial logistic regression over
:mod:`route_features`, with a cost-sensitive decision.

The model gives P(tier | prompt). The tier sent is not the most probable one but the one with the least
expected cost under ``cost[true][routed]``: sending a heavy prompt to the fast model (or the reverse) is
priced far above a one-step miss, and under-routing above over-routing, so a prompt the model is unsure
about goes up a tier rather than down. Weights are plain JSON (``route_weights.json`` in this package,
or a retrained copy in the state dir), written by :func:`fit` via :mod:`route_train`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hydra_os.inference.route_features import DENSE, Lexical
from hydra_os.sections.inference import TIERS

FORMAT = 1
Array = npt.NDArray[np.float64]

# cost[true][routed], tiers in TIERS order (fast, standard, heavy). Two tiers off costs 10; a heavy
# prompt answered by the standard model costs 3 (a wrong proof, a broken plan); a prompt sent one tier
# too high costs 1 (a slower, dearer answer that is still right).
DEFAULT_COST: tuple[tuple[float, ...], ...] = ((0.0, 1.0, 10.0), (1.0, 0.0, 1.0), (10.0, 3.0, 0.0))

_DENSE_NAMES = {
    "len:log_words": "length", "len:lines": "lines", "len:log_ask_chars": "ask size",
    "ask:questions": "question marks", "ask:numbers": "numbers", "ask:math_symbols": "maths symbols",
    "conv:turns": "turns", "rule:heavy_cues": "reasoning cues", "rule:standard_cues": "explain/write cues",
    "rule:actions": "action verbs", "rule:clauses": "clauses", "rule:code_block": "code in prompt",
    "rule:code_ask": "code ask", "rule:math": "maths", "rule:brief": "short-answer ask",
    "rule:simple": "simple opener", "rule:score": "rule score",
}


def feature_label(name: str) -> str:
    """A short, header-safe name of a feature, for explanations. A dense feature that counted by being
    below its average is named with a leading ``!`` ("low maths symbols", "not >120 words")."""
    if name.startswith("!"):
        base = name[1:]
        if base == "len:log_words":
            return "short ask"
        return f"not {feature_label(base)}" if base.startswith("len:words") else f"low {feature_label(base)}"
    if name == "len:log_words":
        return "long ask"
    kind, _, value = name.partition(":")
    if kind == "w":
        return f"'{value}'"
    if kind == "b":
        return f"'{value.replace('_', ' ')}'"
    if kind == "p":
        return f"'{value}*'"
    if kind == "f":
        return f"opens with '{value}'"
    if name.startswith("len:words"):
        return f"{value[len('words'):]} words"
    return _DENSE_NAMES.get(name, name)


def softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    out: Array = e / e.sum(axis=-1, keepdims=True)
    return out


@dataclass(frozen=True, slots=True)
class Decision:
    tier_index: int
    probs: Array
    top: list[tuple[float, str]]  # (contribution, feature name), strongest first


@dataclass(frozen=True)
class RouteModel:
    names: list[str]  # the vocabulary, by index
    terms: dict[str, int]  # the same, term -> index
    mean: Array  # of the dense features, for standardising
    scale: Array
    w_terms: Array  # (terms, tiers)
    w_dense: Array  # (dense, tiers)
    bias: Array  # (tiers,)
    cost: Array  # (tiers, tiers): cost[true][routed]
    meta: dict[str, Any] = field(default_factory=dict)

    def dense_vector(self, lx: Lexical) -> Array:
        return (np.asarray(lx.dense, dtype=np.float64) - self.mean) / self.scale

    def term_indices(self, lx: Lexical) -> list[int]:
        return sorted(i for t in lx.terms if (i := self.terms.get(t)) is not None)

    def probs(self, lx: Lexical) -> Array:
        idx = self.term_indices(lx)
        z = self.bias + self.dense_vector(lx) @ self.w_dense
        if idx:
            z = z + self.w_terms[idx].sum(axis=0)
        return softmax(z)

    def route(self, probs: Array) -> int:
        """The tier with the least expected cost: argmin_j sum_i P(i) cost[i][j]."""
        return int(np.argmin(probs @ self.cost))

    def decide(self, lx: Lexical, top: int = 3) -> Decision:
        idx = self.term_indices(lx)
        d = self.dense_vector(lx)
        z = self.bias + d @ self.w_dense
        if idx:
            z = z + self.w_terms[idx].sum(axis=0)
        p = softmax(z)
        k = self.route(p)
        # what pushed tier k above its strongest rival: each feature's share of logit[k] - logit[rival]
        rival = max((j for j in range(len(TIERS)) if j != k), key=lambda j: z[j])
        parts = [(float(self.w_terms[i, k] - self.w_terms[i, rival]), self.names[i]) for i in idx]
        diff = d * (self.w_dense[:, k] - self.w_dense[:, rival])
        parts += [(float(v), DENSE[i] if d[i] > 0 else "!" + DENSE[i]) for i, v in enumerate(diff) if v > 0]
        parts = sorted((c for c in parts if c[0] > 0), key=lambda c: -c[0])[:top]
        return Decision(k, p, parts)

    # ---- storage -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def rows(a: Array) -> list[list[float]]:
            return [[round(float(v), 6) for v in r] for r in a]

        return {
            "format": FORMAT, "tiers": list(TIERS), "dense": list(DENSE),
            "meta": self.meta,
            "cost": rows(self.cost), "bias": [round(float(v), 6) for v in self.bias],
            "mean": [round(float(v), 6) for v in self.mean], "scale": [round(float(v), 6) for v in self.scale],
            "terms": self.names, "w_terms": rows(self.w_terms), "w_dense": rows(self.w_dense),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RouteModel:
        if data.get("format") != FORMAT or data.get("tiers") != list(TIERS) or data.get("dense") != list(DENSE):
            raise ValueError("route weights were written for another feature set; run 'hydra route retrain'")
        terms = [str(t) for t in data["terms"]]
        return cls(
            names=terms, terms={t: i for i, t in enumerate(terms)},
            mean=np.asarray(data["mean"], dtype=np.float64), scale=np.asarray(data["scale"], dtype=np.float64),
            w_terms=np.asarray(data["w_terms"], dtype=np.float64).reshape(len(terms), len(TIERS)),
            w_dense=np.asarray(data["w_dense"], dtype=np.float64).reshape(len(DENSE), len(TIERS)),
            bias=np.asarray(data["bias"], dtype=np.float64), cost=np.asarray(data["cost"], dtype=np.float64),
            meta=dict(data.get("meta", {})),
        )

    @classmethod
    def from_json_text(cls, text: str) -> RouteModel:
        return cls.from_json(json.loads(text))

    @classmethod
    def load(cls, path: Path) -> RouteModel:
        return cls.from_json_text(path.read_text())

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True) + "\n"


# ---- training ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FitConfig:
    l2: float = 1e-3  # per-example L2 on the weights (not the bias)
    iterations: int = 600
    learning_rate: float = 0.05
    min_docs: int = 2  # a term must occur in this many training prompts to enter the vocabulary
    class_weight: tuple[float, float, float] = (1.0, 1.0, 1.6)  # heavy examples count more: under-routing
    cost: tuple[tuple[float, ...], ...] = DEFAULT_COST


def vocabulary(examples: Iterable[Lexical], min_docs: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for lx in examples:
        for t in lx.terms:
            counts[t] = counts.get(t, 0) + 1
    return {t: i for i, t in enumerate(sorted(t for t, c in counts.items() if c >= min_docs))}


def fit(examples: Sequence[Lexical], labels: Sequence[int], cfg: FitConfig | None = None) -> RouteModel:
    """Weighted multinomial logistic regression by full-batch Adam from zero weights: no randomness, so
    the same examples in the same order give the same weights. The term part of the design matrix is
    sparse (a prompt has tens of the thousands of terms), so products with it are bincounts over the
    (row, term) pairs rather than dense matrix products."""
    cfg = cfg or FitConfig()
    terms = vocabulary(examples, cfg.min_docs)
    n, t, k = len(examples), len(terms), len(TIERS)
    dense = np.asarray([lx.dense for lx in examples], dtype=np.float64)
    mean = dense.mean(axis=0)
    scale = dense.std(axis=0)
    scale[scale < 1e-9] = 1.0
    xd = (dense - mean) / scale
    pairs = sorted((r, i) for r, lx in enumerate(examples) for term in lx.terms if (i := terms.get(term)) is not None)
    rows = np.asarray([r for r, _ in pairs], dtype=np.intp)
    cols = np.asarray([i for _, i in pairs], dtype=np.intp)
    y = np.zeros((n, k), dtype=np.float64)
    y[np.arange(n), np.asarray(labels)] = 1.0
    sw = np.asarray(cfg.class_weight, dtype=np.float64)[np.asarray(labels)]
    sw = sw / sw.sum()
    wt = np.zeros((t, k), dtype=np.float64)
    wd = np.zeros((len(DENSE), k), dtype=np.float64)
    b = np.zeros(k, dtype=np.float64)
    params = [wt, wd, b]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, cfg.iterations + 1):
        z = xd @ wd + b
        for c in range(k):
            z[:, c] += np.bincount(rows, weights=wt[cols, c], minlength=n)
        g = (softmax(z) - y) * sw[:, None]
        gt = np.stack([np.bincount(cols, weights=g[rows, c], minlength=t) for c in range(k)], axis=1)
        grads = [gt + cfg.l2 * wt, xd.T @ g + cfg.l2 * wd, g.sum(axis=0)]
        c1, c2 = 1 - beta1**step, 1 - beta2**step
        for p, gr, mp, vp in zip(params, grads, m, v, strict=True):
            mp *= beta1
            mp += (1 - beta1) * gr
            vp *= beta2
            vp += (1 - beta2) * gr * gr
            p -= cfg.learning_rate * (mp / c1) / (np.sqrt(vp / c2) + eps)
    names = [""] * t
    for term, i in terms.items():
        names[i] = term
    return RouteModel(names=names, terms=terms, mean=mean, scale=scale, w_terms=wt, w_dense=wd, bias=b,
                      cost=np.asarray(cfg.cost, dtype=np.float64),
                      meta={"examples": n, "l2": cfg.l2, "iterations": cfg.iterations,
                            "class_weight": list(cfg.class_weight)})
