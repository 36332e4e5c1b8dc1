"""Patience with a busy bus: an idempotent operation retried while the bus does not answer.

A loaded machine can starve nats-server past ``bus.request_timeout`` (2 s). An owner's request whose writes
are safe to repeat (each finds what an earlier try stored: a claimed key, a record of the same bytes) is
then retried for a while, so it is slower, not failed. Only for such operations: a write that is not
idempotent could land twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from loguru import logger

from hydra_os.errors import BusError

T = TypeVar("T")
RETRY_INTERVAL_S = 0.5


async def patiently(op: Callable[[], Awaitable[T]], patience_s: float, what: str) -> T:
    """``await op()``, retried every 0.5 s for up to ``patience_s`` while it fails with a bus error or a
    timeout (nats-py's request timeouts are ``TimeoutError``s); the last failure is raised after that."""
    give_up = time.monotonic() + patience_s
    while True:
        try:
            return await op()
        except (BusError, TimeoutError) as e:
            if time.monotonic() >= give_up:
                raise
            logger.warning("{}: retried: {}", what, e or type(e).__name__)
            await asyncio.sleep(RETRY_INTERVAL_S)
