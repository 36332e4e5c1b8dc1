"""Rate limit for wrong sign-ins: per client, plus a global bound that cannot lock the owner out.

Per client (the peer address): a token bucket of ``burst`` wrong tries refilled at one per
``refill_s``; an empty bucket refuses further tries from that client (429 with Retry-After) before
the credential is even compared, so guessing runs at one try per ``refill_s`` at best.

Globally: a second, larger bucket bounds wrong tries from all clients together (an attacker with
many addresses). When it is empty, only clients that have failed recently are refused; a client
with a clean record always gets its tries. So a hostile client flooding wrong passwords exhausts its
own bucket and the global one, but the owner, from another address, still signs in. (Behind a
reverse proxy every client shares the proxy's address; then the owner waits at most ``refill_s``
for one try, rather than being locked out for a long period.) The per-client table is bounded
(oldest entries dropped), so rotating addresses cannot grow the daemon's memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from hydra_os.ui.errors import SignInThrottledError


@dataclass
class _Bucket:
    tokens: float
    at: float

    def refill(self, now: float, burst: float, rate: float) -> None:
        self.tokens = min(burst, self.tokens + (now - self.at) * rate)
        self.at = now


class SignInThrottle:
    def __init__(self, burst: int = 5, refill_s: float = 12.0, global_burst: int = 50, global_refill_s: float = 1.0,
                 max_clients: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = float(burst)
        self.rate = 1.0 / refill_s
        self.global_burst = float(global_burst)
        self.global_rate = 1.0 / global_refill_s
        self.max_clients = max_clients
        self.clock = clock
        self._clients: OrderedDict[str, _Bucket] = OrderedDict()
        self._global = _Bucket(self.global_burst, clock())

    def check(self, client: str) -> None:
        """Raise :class:`SignInThrottledError` when ``client`` may not try now."""
        now = self.clock()
        b = self._clients.get(client)
        if b is None:
            return  # a clean record: never refused, whatever others did
        b.refill(now, self.burst, self.rate)
        if b.tokens < 1:
            raise SignInThrottledError(
                "too many wrong sign-ins from this address; wait and try again", (1 - b.tokens) / self.rate
            )
        self._global.refill(now, self.global_burst, self.global_rate)
        if self._global.tokens < 1:
            raise SignInThrottledError(
                "too many wrong sign-ins lately; wait and try again", (1 - self._global.tokens) / self.global_rate
            )

    def failed(self, client: str) -> None:
        now = self.clock()
        b = self._clients.get(client)
        if b is None:
            b = self._clients[client] = _Bucket(self.burst, now)
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        b.refill(now, self.burst, self.rate)
        b.tokens -= 1
        self._global.refill(now, self.global_burst, self.global_rate)
        self._global.tokens = max(0.0, self._global.tokens - 1)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)
