"""A store that could not be opened stands in as :class:`StoreDown`, so the rest of memory serves.

One unreadable file (a core block, a learnings line, the graph database, archival metadata) used to
fail the whole memory service; every caller then heard "no memory service answers", which was
false. Now the memory node opens each store on its own: a store that fails is replaced by a
``StoreDown`` whose every call raises :class:`~memory.errors.MemoryStoreDownError` with the reason
(which names the file and how to restore it), the others serve, and the node retries the failed one
with backoff. Nothing here touches the damaged file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any

from memory.errors import MemoryStoreDownError


class StoreName(StrEnum):
    CORE = "core"
    ARCHIVAL = "archival"
    GRAPH = "graph"
    LEARNINGS = "learnings"


def restore_hint(path: object) -> str:
    """What to tell the owner about a damaged file: it is left alone, and how to get going again."""
    return (
        f"the file is left as it is: restore {path} from a backup of the state directory (or move it aside "
        "and restore from a `hydra memory export` file with `hydra memory import`); the memory node retries "
        "opening it"
    )


class StoreDown:
    """Stands in for any memory store; every method raises the error that says why it is down."""

    def __init__(self, store: StoreName, reason: str) -> None:
        self.store = store
        self.reason = reason

    @property
    def embedding_model(self) -> str:  # the archival store's one attribute that is not a method
        return ""

    def error(self) -> MemoryStoreDownError:
        return MemoryStoreDownError(f"memory store {self.store} is unavailable: {self.reason}")

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)

        async def refuse(*args: Any, **kwargs: Any) -> Any:
            raise self.error()

        return refuse

    async def close(self) -> None:
        return None


def store_states(down: Mapping[StoreName, str]) -> dict[str, Any]:
    """Each store's state for status output: ``{"state": "ok"}`` or ``{"state": "down", "error": ...}``."""
    return {n.value: {"state": "down", "error": down[n]} if n in down else {"state": "ok"} for n in StoreName}
