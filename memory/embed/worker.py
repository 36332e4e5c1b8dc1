"""One daemon thread that runs an embedder's model calls in order, off the event loop.

A model parallelises inside one call (torch, onnxruntime); two calls at once would only contend, so
every load and encode of one embedder goes through its own single thread. It is a daemon thread
that nothing joins (a ThreadPoolExecutor's threads are joined at interpreter exit, which would hold
a stopping daemon until a model import finishes).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from memory.errors import MemoryBackendError

T = TypeVar("T")


class EmbedWorker:
    """Runs submitted calls one at a time on a lazily started daemon thread named ``name``."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        fut: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise MemoryBackendError(f"embedder {self._name}: closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._jobs.put((fn, args, fut))
        return fut

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as err:  # handed to the awaiting coroutine
                fut.set_exception(err)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._jobs.put(None)
