"""Choosing one endpoint among candidates: health, context, stickiness, then power of two choices.

This gateway's own view of each endpoint lives in :class:`EndpointStats` (in-flight requests, EWMA of
time to first byte and of output tokens/s, failures and cooldown). :class:`Selector` filters the
candidates (healthy per the announcement, not cooling down, context long enough for the prompt, not at
its in-flight limit; those whose context also holds ``max_tokens`` first), keeps a conversation on
the endpoint that served it while that endpoint is eligible (prefix caches stay warm), and otherwise
samples two eligible endpoints and takes the less loaded: load is ``(in_flight + 1) * (ewma_ttft_ms + 1)``.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hydra_os.inference.endpoint import EndpointInfo

_UNHEALTHY = frozenset({"down", "starting"})


class EndpointStats:
    """Mutable per-endpoint state of this gateway. Cheap to touch on the hot path."""

    __slots__ = ("cooldown_until", "cooling", "errors_5xx", "ewma_tps", "ewma_ttft_ms", "failures", "in_flight",
                 "last_error")

    def __init__(self) -> None:
        self.in_flight = 0
        self.ewma_ttft_ms: float | None = None
        self.ewma_tps: float | None = None
        self.failures = 0  # consecutive
        self.errors_5xx = 0  # 5xx answers in a row (endpoint faults that cool only when repeated)
        self.cooling = False  # out of rotation until a health probe succeeds
        self.cooldown_until = 0.0  # monotonic time of the next probe
        self.last_error: str | None = None

    def observe_ttft(self, ms: float, alpha: float) -> None:
        self.ewma_ttft_ms = ms if self.ewma_ttft_ms is None else alpha * ms + (1 - alpha) * self.ewma_ttft_ms

    def observe_tps(self, tps: float, alpha: float) -> None:
        self.ewma_tps = tps if self.ewma_tps is None else alpha * tps + (1 - alpha) * self.ewma_tps

    @property
    def load(self) -> float:
        return (self.in_flight + 1) * ((self.ewma_ttft_ms or 0.0) + 1.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "ewma_ttft_ms": None if self.ewma_ttft_ms is None else round(self.ewma_ttft_ms, 2),
            "ewma_tokens_per_s": None if self.ewma_tps is None else round(self.ewma_tps, 1),
            "failures": self.failures,
            "cooling": self.cooling,
            "probe_in_s": round(max(0.0, self.cooldown_until - time.monotonic()), 2) if self.cooling else None,
            "last_error": self.last_error,
        }


@dataclass(frozen=True, slots=True)
class Pick:
    endpoint: EndpointInfo
    reason: str


@dataclass(frozen=True, slots=True)
class NoPick:
    """Why nothing was eligible: ``busy`` means some would be, once a request finishes."""

    busy: bool
    reason: str


def conversation_key(body: Mapping[str, Any]) -> str | None:
    """Hash of the conversation prefix: system prompt(s) and the first user turn (same for every turn)."""
    messages = body.get("messages")
    h = hashlib.blake2b(digest_size=12)
    if isinstance(messages, list):
        seen_user = False
        for m in messages:
            if not isinstance(m, dict):
                continue
            h.update(str(m.get("role")).encode())
            h.update(b"\x00")
            h.update(str(m.get("content")).encode())
            h.update(b"\x01")
            if m.get("role") == "user":
                seen_user = True
                break
        return h.hexdigest() if seen_user else None
    prompt = body.get("prompt")
    if isinstance(prompt, str) and len(prompt) >= 64:
        h.update(prompt[:512].encode())
        return h.hexdigest()
    return None


def _no_pick(busy: int, unhealthy: int, short: int, needed_tokens: int) -> NoPick:
    """Why no candidate can take the request now (``busy``: some could once a request finishes)."""
    parts = []
    if busy:
        parts.append(f"{busy} busy")
    if unhealthy:
        parts.append(f"{unhealthy} unhealthy/cooling")
    if short:
        parts.append(f"{short} context < {needed_tokens}")
    return NoPick(busy=busy > 0, reason=", ".join(parts) or "no endpoints")


class Selector:
    def __init__(self, *, max_in_flight: int, sticky_entries: int, rng: random.Random | None = None) -> None:
        self.max_in_flight = max_in_flight
        self.sticky_entries = sticky_entries
        self.stats: dict[str, EndpointStats] = {}
        self._sticky: OrderedDict[str, str] = OrderedDict()
        self._rng = rng or random.Random()
        self.limits: dict[str, int] = {}  # per-endpoint in-flight limits from config

    def stats_for(self, endpoint_id: str) -> EndpointStats:
        s = self.stats.get(endpoint_id)
        if s is None:
            s = self.stats[endpoint_id] = EndpointStats()
        return s

    def limit(self, ep: EndpointInfo) -> int:
        return ep.max_in_flight or self.limits.get(ep.id) or self.max_in_flight

    def choose(
        self,
        candidates: Sequence[EndpointInfo],
        *,
        needed_tokens: int,
        sticky_key: str | None,
        exclude: frozenset[str] | set[str] = frozenset(),
        remember: bool = True,
        wanted_tokens: int = 0,
    ) -> Pick | NoPick:
        """Screen the candidates, then the conversation's endpoint if still eligible, else the power of two choices."""
        eligible = self._screen(candidates, needed_tokens, wanted_tokens, exclude)
        if isinstance(eligible, NoPick):
            return eligible
        if sticky_key is not None and (same := self._same_conversation(eligible, sticky_key, remember)):
            return same
        pick = self._least_loaded(eligible)
        if sticky_key is not None and remember:
            self.remember(sticky_key, pick.endpoint.id)
        return pick

    def _screen(self, candidates: Sequence[EndpointInfo], needed_tokens: int, wanted_tokens: int,
                exclude: frozenset[str] | set[str]) -> list[EndpointInfo] | NoPick:
        """The endpoints that can take the request now, those whose context also holds max_tokens if only
        some do; else why none can."""
        eligible: list[EndpointInfo] = []
        roomy: list[EndpointInfo] = []
        busy = short = unhealthy = 0
        for ep in candidates:
            if ep.id in exclude:
                continue
            st = self.stats_for(ep.id)
            if ep.health in _UNHEALTHY or st.cooling:
                unhealthy += 1
            elif ep.context_length < needed_tokens:
                short += 1
            elif st.in_flight >= self.limit(ep):
                busy += 1
            else:
                eligible.append(ep)
                if ep.context_length >= wanted_tokens:
                    roomy.append(ep)
        if not eligible:
            return _no_pick(busy, unhealthy, short, needed_tokens)
        return roomy if roomy and len(roomy) < len(eligible) else eligible

    def _same_conversation(self, eligible: list[EndpointInfo], sticky_key: str, remember: bool) -> Pick | None:
        sid = self._sticky.get(sticky_key)
        for ep in eligible if sid is not None else ():
            if ep.id == sid:
                if remember:
                    self._sticky.move_to_end(sticky_key)
                return Pick(ep, "same conversation")
        return None

    def _least_loaded(self, eligible: list[EndpointInfo]) -> Pick:
        if len(eligible) == 1:
            return Pick(eligible[0], "only eligible endpoint")
        a, b = self._rng.sample(eligible, 2)
        ep = a if self.stats_for(a.id).load <= self.stats_for(b.id).load else b
        return Pick(ep, f"least loaded of 2 (in-flight {self.stats_for(ep.id).in_flight})")

    def remember(self, sticky_key: str, endpoint_id: str) -> None:
        self._sticky[sticky_key] = endpoint_id
        self._sticky.move_to_end(sticky_key)
        while len(self._sticky) > self.sticky_entries:
            self._sticky.popitem(last=False)

    def forget_endpoint(self, endpoint_id: str) -> None:
        self.stats.pop(endpoint_id, None)
