"""The bounded wait queue for requests that find every eligible endpoint busy.

A request that cannot get an endpoint because all are at their in-flight limit joins the queue (at
most ``size`` waiters; one more is refused at once) naming the endpoints it could use, and waits,
first come first served, until its deadline: then it is refused. Refusals become HTTP 429 with
``Retry-After``.

Wake-ups are targeted: a request finishing at endpoint E wakes only the first waiter that could use
E (so a release costs one retry, not one per waiter); a wake-up the waiter does not use (its client
left meanwhile) is passed on to the next one. A change that may help everyone — an endpoint back
from cooldown, a new endpoint — wakes every waiter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from hydra_os.inference.errors import BusyError


class Waiter:
    __slots__ = ("eligible", "fut", "woken")

    def __init__(self, eligible: frozenset[str] | None) -> None:
        self.eligible = eligible  # endpoint ids this request could use; None = any
        self.fut: asyncio.Future[None] | None = None
        self.woken: str | None = None  # the endpoint whose freed slot woke it, until it retries


class WaitQueue:
    def __init__(self, *, size: int, timeout: float, retry_after: int) -> None:
        self.size = size
        self.timeout = timeout
        self.retry_after = retry_after
        self._waiters: list[Waiter] = []

    def __len__(self) -> int:
        return len(self._waiters)

    def join(self, why: str, eligible: Iterable[str] | None = None) -> Waiter:
        if len(self._waiters) >= self.size:
            raise BusyError(
                f"every endpoint is busy ({why}) and {len(self._waiters)} requests already wait; retry later",
                retry_after=self.retry_after,
            )
        w = Waiter(frozenset(eligible) if eligible is not None else None)
        self._waiters.append(w)
        return w

    def leave(self, w: Waiter, *, used: bool = True) -> None:
        """``w`` stops waiting; ``used=False``: it gave up, so a wake-up it got goes to the next waiter."""
        try:
            self._waiters.remove(w)
        except ValueError:
            return
        if not used and w.woken is not None:
            self.notify(w.woken)

    async def wait(self, w: Waiter, deadline: float, why: str) -> None:
        """Sleep until :meth:`notify` (then the caller tries again) or raise :class:`BusyError` at ``deadline``."""
        left = deadline - time.monotonic()
        w.woken = None
        if left > 0:
            w.fut = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(w.fut, left)
                return
            except TimeoutError:
                pass
            finally:
                w.fut = None
        raise BusyError(
            f"every endpoint stayed busy ({why}) for {self.timeout:g}s; retry later", retry_after=self.retry_after
        )

    def notify(self, endpoint_id: str | None = None) -> None:
        """A slot freed at ``endpoint_id``: wake the first waiting request that could use it.
        ``None``: something changed for everyone; wake every waiter, in arrival order."""
        for w in self._waiters:
            if w.fut is None or w.fut.done():
                continue
            if endpoint_id is None:
                w.fut.set_result(None)
            elif w.eligible is None or endpoint_id in w.eligible:
                w.woken = endpoint_id
                w.fut.set_result(None)
                return
