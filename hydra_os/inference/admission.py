"""The bounded wait queue for requests that find every eligible endpoint busy.

A request that cannot get an endpoint because all are at their in-flight limit joins the queue (at
most ``size`` waiters; one more is refused at once) and waits until a request finishes somewhere, then
tries again, first come first served, until its deadline: then it is refused. Refusals become HTTP 429
with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time

from hydra_os.inference.errors import BusyError


class Waiter:
    __slots__ = ("fut",)

    def __init__(self) -> None:
        self.fut: asyncio.Future[None] | None = None


class WaitQueue:
    def __init__(self, *, size: int, timeout: float, retry_after: int) -> None:
        self.size = size
        self.timeout = timeout
        self.retry_after = retry_after
        self._waiters: list[Waiter] = []

    def __len__(self) -> int:
        return len(self._waiters)

    def join(self, why: str) -> Waiter:
        if len(self._waiters) >= self.size:
            raise BusyError(
                f"every endpoint is busy ({why}) and {len(self._waiters)} requests already wait; retry later",
                retry_after=self.retry_after,
            )
        w = Waiter()
        self._waiters.append(w)
        return w

    def leave(self, w: Waiter) -> None:
        try:
            self._waiters.remove(w)
        except ValueError:
            pass

    async def wait(self, w: Waiter, deadline: float, why: str) -> None:
        """Sleep until :meth:`notify` (then the caller tries again) or raise :class:`BusyError` at ``deadline``."""
        left = deadline - time.monotonic()
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

    def notify(self) -> None:
        """Capacity freed somewhere: wake every waiter, in arrival order (the first to run takes the slot)."""
        for w in self._waiters:
            if w.fut is not None and not w.fut.done():
                w.fut.set_result(None)
