"""An hourly action budget: at most ``per_hour`` automatic actions in any rolling hour on a node.

When it is used up the gate degrades AUTONOMOUS and INFORM_AFTER actions to ASK_FIRST and says so
in the decision's reason.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

HOUR = 3600.0


class ActionBudget:
    def __init__(self, per_hour: int, clock: Callable[[], float] = time.time) -> None:
        if per_hour < 0:
            raise ValueError("per_hour must be >= 0")
        self.per_hour = per_hour
        self.clock = clock
        self._spent: deque[float] = deque()

    def _trim(self) -> None:
        cutoff = self.clock() - HOUR
        while self._spent and self._spent[0] <= cutoff:
            self._spent.popleft()

    def used(self) -> int:
        self._trim()
        return len(self._spent)

    def exhausted(self) -> bool:
        return self.used() >= self.per_hour

    def consume(self) -> None:
        self._trim()
        self._spent.append(self.clock())

    def frees_in(self) -> float:
        """Seconds until one more action fits (0 when one fits now)."""
        self._trim()
        if len(self._spent) < self.per_hour:
            return 0.0
        if not self._spent:
            return HOUR
        return max(0.0, self._spent[len(self._spent) - self.per_hour] + HOUR - self.clock())
