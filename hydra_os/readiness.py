"""Whether a subsystem can serve, for ``/readyz`` and ``/v1/status``.

A subsystem that talks to the bus (the task store, the approvals watcher) keeps a
:class:`FailureRecord`: every operation reports success or failure, and while the latest outcome is
a failure, not older than ``stale_after``, the subsystem reports itself unready with the error. The
builders register the records on ``NodeContext.readiness`` (name -> probe), and the daemon's
readiness is "started, bus connected, and no probe reports a problem" — so a node whose bus
connection is fine but whose JetStream refuses the subsystem's requests (e.g. "maximum consumers
limit reached") no longer answers ready.

A failure goes stale after ``stale_after`` seconds without a newer outcome, so a node nobody sends
work to (because it is unready) does not stay unready forever on one old error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

Probe = Callable[[], "str | None"]
"""Returns None when the subsystem can serve, else one line saying why not."""


@dataclass
class FailureRecord:
    """The latest outcome of a subsystem's bus operations."""

    stale_after: float = 30.0
    clock: Callable[[], float] = time.monotonic
    error: str | None = None
    failed_at: float | None = field(default=None)

    def ok(self) -> None:
        self.error = None
        self.failed_at = None

    def fail(self, error: str) -> None:
        self.error = error
        self.failed_at = self.clock()

    def unready(self) -> str | None:
        if self.error is None or self.failed_at is None:
            return None
        if self.clock() - self.failed_at > self.stale_after:
            return None
        return self.error


def unready(probes: dict[str, Probe]) -> dict[str, str]:
    """The subsystems that cannot serve, with why."""
    out: dict[str, str] = {}
    for name, probe in probes.items():
        reason = probe()
        if reason is not None:
            out[name] = reason
    return out
