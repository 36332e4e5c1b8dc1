"""The archival store's own worker threads, so a slow or stuck store cannot starve the daemon.

Every blocking engine call of :class:`memory.archival.store.QdrantArchivalStore` (searches, writes,
counts, exports, reindex batches) runs here instead of on asyncio's default executor, which has only
min(32, cpu + 4) threads (6 on a two-core node) and serves every other ``asyncio.to_thread`` of the
daemon (file I/O, the policy engine, backups). Store calls that pile up (many concurrent searches, or a
store that hangs on its disk) then queue behind each other, not in front of the rest of the node.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

STORE_THREADS = 4  # calls are CPU-bound on a node of 2-8 cores; more would only contend


class StoreThreads:
    """``await threads.run(fn, *args)``: ``fn`` on one of the store's threads (context variables kept,
    as ``asyncio.to_thread`` does); ``shutdown()`` starts no further call and returns at once."""

    def __init__(self, name: str, workers: int = STORE_THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    async def run(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
