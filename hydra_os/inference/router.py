"""The router: turn a request into a plan (which endpoints to try, in which order, and why).

``model`` is resolved first: ``hydra/auto`` classifies the request (:mod:`classifier`) into a tier and
tries that tier, then the next ones (fast -> standard -> heavy; standard -> heavy -> fast; heavy ->
standard -> fast); an alias from config maps to its model; any other name must be served by some
endpoint in the registry (else 404). A tier's endpoints are those serving the models listed for it in
``inference.tiers``, or, for a tier not listed there, those announced with that tier.
Which endpoint of a group serves the request is up to :class:`~hydra_os.inference.selection.Selector`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hydra_os.inference.auto_classifier import AutoClassifier
from hydra_os.inference.classifier import Classification, content_text
from hydra_os.inference.endpoint import EndpointInfo, Tier
from hydra_os.inference.errors import BadRequestError, ModelNotFoundError
from hydra_os.inference.selection import conversation_key
from hydra_os.sections.inference import AUTO_MODEL, InferenceConfig

Kind = Literal["chat", "completions", "embeddings"]

FALLBACK: dict[Tier, tuple[Tier, ...]] = {
    "fast": ("fast", "standard", "heavy"),
    "standard": ("standard", "heavy", "fast"),
    "heavy": ("heavy", "standard", "fast"),
}


@dataclass(slots=True)
class Group:
    tier: Tier | None  # None: not a tier (a named model, base models): the endpoint's own tier is reported
    endpoints: list[EndpointInfo]
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or (f"tier {self.tier}" if self.tier else "model")


@dataclass(slots=True)
class Plan:
    requested: str
    groups: list[Group]
    reason: str
    needed_tokens: int  # the prompt's estimated tokens: an endpoint with less context cannot serve it
    sticky_key: str | None
    classification: Classification | None = None
    named_tier: Tier | None = None  # a named model's tier (for noticing an override of hydra/auto)
    wanted_tokens: int = 0  # prompt + max_tokens: endpoints with this much context are preferred

    def __post_init__(self) -> None:
        self.wanted_tokens = max(self.wanted_tokens, self.needed_tokens)

    @property
    def tier(self) -> Tier | None:
        return self.classification.tier if self.classification else None


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """Rough prompt size in tokens (chars / 4), for the context-length check."""
    messages = body.get("messages")
    if isinstance(messages, list):
        n = sum(len(content_text(m.get("content"))) for m in messages if isinstance(m, dict))
    else:
        p = body.get("prompt")
        n = len(p) if isinstance(p, str) else len(content_text(p)) if isinstance(p, list) else 0
    return n // 4 + 1


@dataclass(frozen=True)
class _Need:
    """What a request needs of an endpoint's context, and the conversation it continues."""

    needed: int  # the prompt's estimated tokens: an endpoint must hold these
    wanted: int  # the prompt plus max_tokens: preferred
    sticky: str | None  # conversation key (None for embeddings)


class Router:
    def __init__(
        self,
        config: InferenceConfig,
        endpoints: Callable[[], list[EndpointInfo]],
        usable: Callable[[EndpointInfo], bool] = lambda _: True,
        classifier: AutoClassifier | None = None,
    ) -> None:
        self.config = config
        self.classifier = classifier if classifier is not None else AutoClassifier.load()
        self._endpoints = endpoints
        self._usable = usable  # e.g. False for endpoints needing an API key this gateway lacks
        self._embedding_model = config.embedding_model  # pinned on first use when not configured

    def _suits(self, ep: EndpointInfo, kind: Kind, auto: bool) -> bool:
        if kind == "embeddings":
            return ep.embeddings
        if ep.embeddings:
            return False
        if kind == "chat" and auto and ep.completions_only:
            return False  # a base model without a chat template only when asked for by name
        return self._usable(ep)

    def tier_members(self, tier: Tier, pool: list[EndpointInfo]) -> list[EndpointInfo]:
        names = self.config.tiers.get(tier)
        if names is None:
            return [ep for ep in pool if ep.tier == tier]
        wanted = {self.config.aliases.get(n, n) for n in names}
        return [ep for ep in pool if ep.model in wanted or wanted.intersection(ep.aliases)]

    def model_names(self) -> list[str]:
        """What ``/v1/models`` lists: every served model, every alias that resolves, and hydra/auto."""
        eps = self._endpoints()
        served = {ep.model for ep in eps} | {a for ep in eps for a in ep.aliases}
        aliases = {a for a, m in self.config.aliases.items() if m in served}
        return [*sorted(served | aliases), AUTO_MODEL]

    def _auto_embedding(self, pool: list[EndpointInfo]) -> str:
        """The one model ``hydra/auto`` embeds with: ``inference.embedding_model``, else the only embedding
        model served, pinned from then on. Never a fallback to another model: its vectors would not
        match the ones already stored (another model, another length, another space)."""
        if self._embedding_model is None:
            models = sorted({ep.model for ep in pool})
            if len(models) != 1:
                served = ", ".join(models) or "none"
                raise BadRequestError(
                    f"hydra/auto for embeddings needs one model: set inference.embedding_model or name one "
                    f"(embedding models served: {served})", param="model")
            self._embedding_model = models[0]
        return self.config.aliases.get(self._embedding_model, self._embedding_model)

    def plan(self, kind: Kind, body: Mapping[str, Any]) -> Plan:
        """The groups of endpoints to try, in order: by classification for ``hydra/auto``, else the model named."""
        requested = body["model"]
        auto = requested == AUTO_MODEL
        pool = [ep for ep in self._endpoints() if self._suits(ep, kind, auto)]
        # max_tokens is an upper bound, not a need: an endpoint whose context holds the prompt can serve
        # it (engines stop at the context's end); ones that hold prompt + max_tokens are preferred
        mt = body.get("max_tokens", body.get("max_completion_tokens"))
        needed = estimate_tokens(body)
        if kind == "embeddings":
            need = _Need(needed, needed, None)
        else:
            need = _Need(needed, needed + (mt if isinstance(mt, int) else 0), conversation_key(body))
        if not auto:
            return self._plan_named(kind, requested, pool, need)
        if kind == "embeddings":
            return self._plan_auto_embeddings(requested, pool, need)
        return self._plan_auto(kind, body, requested, pool, need)

    def _plan_auto_embeddings(self, requested: str, pool: list[EndpointInfo], need: _Need) -> Plan:
        target = self._auto_embedding(pool)
        members = [ep for ep in pool if ep.model == target or target in ep.aliases]
        return Plan(requested, [Group(None, members, f"embedding model {target}")],
                    f"hydra/auto embeddings -> {target}", need.needed, None)

    def _plan_auto(self, kind: Kind, body: Mapping[str, Any], requested: str, pool: list[EndpointInfo],
                   need: _Need) -> Plan:
        c = self.classifier.classify(body)
        groups = [Group(t, self.tier_members(t, pool)) for t in FALLBACK[c.tier]]
        if kind == "chat":  # base models only when nothing with a chat template can answer
            base = [ep for ep in self._endpoints() if ep.completions_only and not ep.embeddings
                    and self._usable(ep)]
            if base:
                groups.append(Group(None, base, "base models (last resort)"))
        return Plan(requested, groups, c.reason, need.needed, need.sticky, classification=c,
                    wanted_tokens=need.wanted)

    def _plan_named(self, kind: Kind, requested: str, pool: list[EndpointInfo], need: _Need) -> Plan:
        target = self.config.aliases.get(requested, requested)
        members = [ep for ep in pool if ep.model == target or target in ep.aliases]
        if not members:
            raise ModelNotFoundError(
                f"the model {requested!r} does not exist or no endpoint serves it"
                f"{' for ' + kind if kind != 'chat' else ''}; GET /v1/models lists what is served",
                param="model",
            )
        reason = f"alias {requested} -> {target}" if target != requested else "model named in request"
        return Plan(requested, [Group(None, members)], reason, need.needed, need.sticky,
                    wanted_tokens=need.wanted, named_tier=self.tier_of(requested, target, members))

    def tier_of(self, requested: str, target: str, members: list[EndpointInfo]) -> Tier | None:
        """The tier a named model belongs to: by ``inference.tiers``, else its endpoints' common tier."""
        for tier, names in self.config.tiers.items():
            if requested in names or target in names:
                return tier
        tiers = {ep.tier for ep in members}
        return tiers.pop() if len(tiers) == 1 else None

