"""The ``hydra/auto`` classifier: the learned model (:mod:`route_model`) over the rules' features, with
two hard rules kept from :mod:`classifier` and the rules alone when no weights load.

Weights: ``<state_dir>/router/route_weights.json`` (written by ``hydra route retrain``) when present and
valid, else the ones shipped in this package (``route_weights.json``, written by
``scripts/train_router.py``). Loading is one small JSON read at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from loguru import logger

from hydra_os.inference.classifier import Classification, Features, classify, read, rule_parts
from hydra_os.inference.endpoint import Tier
from hydra_os.inference.route_features import lexical
from hydra_os.inference.route_model import RouteModel, feature_label
from hydra_os.sections.inference import TIERS

SHIPPED = "route_weights.json"
HEAVY_MAX_TOKENS = 4000  # asking for this much output is asking for the heavy model, whatever the words
LONG_PROMPT_TOKENS = 3000  # a prompt this long is never for the fast model


def state_weights(state_dir: Path) -> Path:
    return state_dir / "router" / SHIPPED


def shipped_model() -> RouteModel:
    return RouteModel.from_json_text(resources.files("hydra_os.inference").joinpath(SHIPPED).read_text())


def load_model(state_dir: Path | None = None) -> tuple[RouteModel | None, str]:
    """The model to route with and where it came from (``state``, ``shipped``, or ``rules`` when none)."""
    if state_dir is not None and state_weights(state_dir).exists():
        try:
            return RouteModel.load(state_weights(state_dir)), "state"
        except (OSError, ValueError, KeyError) as e:
            logger.warning("router: ignoring retrained weights in {}: {}", state_weights(state_dir), e)
    try:
        return shipped_model(), "shipped"
    except (OSError, ValueError, KeyError) as e:
        logger.warning("router: shipped weights unusable, routing by rules only: {}", e)
        return None, "rules"


class AutoClassifier:
    def __init__(self, model: RouteModel | None, source: str = "given") -> None:
        self.model = model
        self.source = source

    @classmethod
    def load(cls, state_dir: Path | None = None) -> AutoClassifier:
        return cls(*load_model(state_dir))

    def classify(self, body: Mapping[str, Any]) -> Classification:
        """The model's tier, raised by the two hard rules; the rules alone when no model loaded."""
        f, ask = read(body)
        if self.model is None:
            c = classify(f)
            return Classification(c.tier, c.score, c.reason, f, ask=ask)
        d = self.model.decide(lexical(ask, f))
        tier: Tier = TIERS[d.tier_index]
        probs = {t: round(float(p), 3) for t, p in zip(TIERS, d.probs, strict=True)}
        parts = rule_parts(f)
        score = round(sum(w for w, _ in parts), 2)
        why = [feature_label(name) for _, name in d.top]
        reason = f"model {tier} p={probs[tier]:.2f}" + (f" by {', '.join(why)}" if why else "")
        hard = _hard_rule(f, tier)
        if hard is not None:
            tier, rule = hard
            reason = f"{rule} (rule over {reason})"
        rules = [name for w, name in sorted(parts, key=lambda p: -abs(p[0])) if w > 0][:2]
        if rules:
            reason += f"; rules: {', '.join(rules)}"
        return Classification(tier, score, reason, f, probs=probs,
                              decided_by="model+rule" if hard else "model", ask=ask)


def _hard_rule(f: Features, tier: Tier) -> tuple[Tier, str] | None:
    """The tier a hard rule raises the model's ``tier`` to, and the rule; None when neither applies."""
    if f.max_tokens is not None and f.max_tokens >= HEAVY_MAX_TOKENS and tier != "heavy":
        return "heavy", f"max_tokens {f.max_tokens}"
    if f.est_tokens > LONG_PROMPT_TOKENS and tier == "fast":
        return "standard", f"~{f.est_tokens} prompt tokens"
    return None
