"""Attempts per target per window, with exponential backoff between them.

After the n-th attempt on a target (n counted within the last ``window`` seconds) the next one
may start ``min(base * factor**(n-1), max_delay)`` seconds later; earlier tries are DEFERRED.
Once ``max_attempts`` attempts fall within the window, further automatic attempts are exhausted
(the gate escalates them to ASK_FIRST) until old attempts age out of the window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class AttemptVerdict:
    count: int  # attempts within the window
    exhausted: bool  # count >= max_attempts
    retry_after: float  # seconds until backoff allows another attempt (0 = now)

    @property
    def allowed(self) -> bool:
        return not self.exhausted and self.retry_after <= 0


class AttemptTracker:
    def __init__(
        self,
        max_attempts: int,
        window: float,
        *,
        base: float = 2.0,
        factor: float = 2.0,
        max_delay: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1 or window <= 0:
            raise ValueError("max_attempts must be >= 1 and window > 0")
        self.max_attempts = max_attempts
        self.window = window
        self.base = base
        self.factor = factor
        self.max_delay = max_delay
        self.clock = clock
        self._attempts: dict[str, deque[float]] = {}

    def _recent(self, target: str) -> deque[float]:
        q = self._attempts.setdefault(target, deque())
        cutoff = self.clock() - self.window
        while q and q[0] <= cutoff:
            q.popleft()
        return q

    def delay_after(self, n: int) -> float:
        """Backoff after the n-th attempt (n >= 1)."""
        return float(min(self.base * self.factor ** (n - 1), self.max_delay)) if n >= 1 else 0.0

    def check(self, target: str) -> AttemptVerdict:
        q = self._recent(target)
        n = len(q)
        retry = 0.0
        if n:
            retry = max(0.0, q[-1] + self.delay_after(n) - self.clock())
        return AttemptVerdict(count=n, exhausted=n >= self.max_attempts, retry_after=retry)

    def record(self, target: str) -> None:
        self._recent(target).append(self.clock())

    def snapshot(self) -> dict[str, int]:
        return {t: len(self._recent(t)) for t in list(self._attempts) if self._recent(t)}
