"""Archival memory: passages with hybrid (vector + BM25, reciprocal-rank fused) search.

:func:`open_archival` builds the store the config names: embedded Qdrant (``qdrant-edge-py``, the
default) or a Qdrant server through ``qdrant-client``. Both run the same
:class:`~memory.archival.store.QdrantArchivalStore` logic over a small engine seam.

This package is imported by the config (``ArchivalConfig``), so it stays light: numpy, qdrant and
the store load only when a store is opened (or ``QdrantArchivalStore`` / ``BackgroundOptimizer``
is first looked up here).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memory.archival.config import ArchivalConfig
from memory.errors import MemoryBackendError

if TYPE_CHECKING:
    from memory.archival.maintenance import BackgroundOptimizer
    from memory.archival.store import QdrantArchivalStore  # lazy: numpy and qdrant load when a store is opened
    from memory.protocols import Embedder

__all__ = ["ArchivalConfig", "BackgroundOptimizer", "QdrantArchivalStore", "open_archival"]


def __getattr__(name: str) -> Any:
    if name == "QdrantArchivalStore":
        from memory.archival.store import QdrantArchivalStore  # lazy: numpy, qdrant load with the store

        return QdrantArchivalStore
    if name == "BackgroundOptimizer":
        from memory.archival.maintenance import BackgroundOptimizer  # lazy: as above

        return BackgroundOptimizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def open_archival(cfg: ArchivalConfig, embedder: Embedder, state_dir: Path) -> QdrantArchivalStore:
    """Open (creating when absent) the archival store ``cfg`` names; ``state_dir`` is the node's."""
    from memory.archival.store import QdrantArchivalStore  # lazy: numpy and qdrant load when a store is opened

    if cfg.backend == "edge":
        from memory.archival.edge import EdgeEngine  # lazy: qdrant-edge, only for the embedded backend

        root = cfg.path or state_dir / "memory" / "archival"
        engine = await asyncio.to_thread(EdgeEngine, root, cfg.min_free_mb * 1024 * 1024)
        return QdrantArchivalStore(engine, embedder, cfg)

    from memory.archival.server import ServerEngine, make_client  # lazy: qdrant-client, only for the server backend

    assert cfg.url is not None  # the config validator guarantees it
    api_key = None
    if cfg.api_key_file is not None:
        try:
            api_key = cfg.api_key_file.read_text().strip()
        except OSError as err:
            raise MemoryBackendError(
                f"memory archival api_key_file: cannot read {cfg.api_key_file}: {err.strerror}"
            ) from err
    client = make_client(cfg.url, api_key)
    server_engine = await asyncio.to_thread(ServerEngine, client, cfg.collection)
    return QdrantArchivalStore(server_engine, embedder, cfg)
