"""Flap detection over the last N observed states of a target, with hysteresis.

Like Nagios: keep the last ``history`` observed states of each target; the share of consecutive
pairs that differ is the change ratio. A target starts flapping when the ratio reaches ``high``
and stops only when it falls below ``low`` (``low < high``), so it does not flip-flop at the edge.
"""

from __future__ import annotations

import itertools
from collections import deque


class FlapDetector:
    def __init__(self, history: int = 10, high: float = 0.5, low: float = 0.25) -> None:
        if history < 3:
            raise ValueError("history must be at least 3 states")
        if not 0 <= low < high <= 1:
            raise ValueError(f"expected 0 <= low < high <= 1, got low={low} high={high}")
        self.history = history
        self.high = high
        self.low = low
        self._states: dict[str, deque[str]] = {}
        self._flapping: set[str] = set()

    def ratio(self, target: str) -> float:
        states = self._states.get(target)
        if not states or len(states) < 2:
            return 0.0
        seq = list(states)
        changes = sum(1 for a, b in itertools.pairwise(seq) if a != b)
        return changes / (self.history - 1)

    def observe(self, target: str, state: str) -> bool:
        """Record one observed state; returns whether the target is flapping now."""
        self._states.setdefault(target, deque(maxlen=self.history)).append(state)
        r = self.ratio(target)
        if target in self._flapping:
            if r < self.low:
                self._flapping.discard(target)
        elif r >= self.high:
            self._flapping.add(target)
        return target in self._flapping

    def is_flapping(self, target: str) -> bool:
        return target in self._flapping

    def flapping(self) -> list[str]:
        return sorted(self._flapping)
