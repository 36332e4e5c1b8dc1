"""The audit chain's status on the live feed, kept fresh as events arrive.

The check is :func:`~hydra_os.policy.audit.verify_all`, the one ``hydra audit verify`` and ``/ui/audit``
run. It reads the whole events stream, so its cost grows with the stream: it is not run per event nor
per open page. It is periodic and shared: one result for every open feed, checked again only when
events arrived since the last check (the feed's subscriptions say so), at most once every
``min_interval`` seconds, one check at a time. With no feed open nothing marks it, so it costs nothing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import nats.errors

from hydra_os.bus.client import Bus
from hydra_os.errors import HydraError
from hydra_os.lifecycle import Background
from hydra_os.policy.audit import ChainReport, Problem, verify_all

CHECK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ChainStatus:
    """What the feed shows: verified up to ``verified_to``, or broken at ``broken_at`` (the first
    problem's stream seq; None for a problem with no seq, like a missing head)."""

    ok: bool
    line: str
    verified_to: int | None
    broken_at: int | None
    events: int
    checked_at: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _first(problems: list[Problem]) -> Problem:
    return min(problems, key=lambda p: (p.seq is None, p.seq or 0))


def chain_status(reports: Mapping[str, ChainReport], now: float) -> ChainStatus:
    """One line for the owner from every node's report."""
    problems = [p for r in reports.values() for p in r.problems]
    last = max((r.last_seq for r in reports.values() if r.last_seq is not None), default=None)
    events = sum(r.events for r in reports.values())
    if not problems:
        line = (f"Audit chain verified up to seq {last} ({events} events, {len(reports)} node chains)"
                if last is not None else "Audit chain: no events yet")
        return ChainStatus(True, line, last, None, events, now)
    p = _first(problems)
    where = f"broken at seq {p.seq}" if p.seq is not None else "broken"
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return ChainStatus(False, f"Audit chain {where}: node {p.node}, {p.kind}: {p.detail}{more}", last, p.seq,
                       events, now)


class AuditWatch:
    def __init__(self, bus: Bus, background: Background, min_interval: float = 5.0) -> None:
        self.bus = bus
        self.background = background
        self.min_interval = min_interval
        self.status: ChainStatus | None = None
        self._dirty = True
        self._last_check = -math.inf
        self._task: asyncio.Task[None] | None = None
        self._listeners: set[Callable[[ChainStatus], None]] = set()

    def listen(self, cb: Callable[[ChainStatus], None]) -> Callable[[], None]:
        """Call ``cb`` with every new status; returns the function that stops that."""
        self._listeners.add(cb)
        return lambda: self._listeners.discard(cb)

    def mark(self) -> None:
        """Events arrived: check again (now, or once ``min_interval`` has passed since the last check)."""
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = self.background.spawn(self._run(), "audit-watch")

    async def _run(self) -> None:
        while self._dirty:
            await asyncio.sleep(max(0.0, self._last_check + self.min_interval - time.monotonic()))
            self._dirty = False  # events arriving during the check mark it again
            self._last_check = time.monotonic()
            self.status = await self._check()
            for cb in list(self._listeners):
                cb(self.status)

    async def _check(self) -> ChainStatus:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                return chain_status(await verify_all(self.bus), time.time())
        except (HydraError, nats.errors.Error, TimeoutError) as e:  # the stream away: say so, try on the next event
            return ChainStatus(False, f"Audit chain not checked: {e or type(e).__name__}", None, None, 0, time.time())
