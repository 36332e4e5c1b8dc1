"""The temporal knowledge graph: entities with aliases, facts with validity intervals.

:func:`open_graph` builds the backend the config names: embedded Ladybug (default) or Neo4j. The
package stays light (the config imports it): the store and its backends load in ``open_graph``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memory.errors import MemoryBackendError
from memory.graph.config import GraphConfig

if TYPE_CHECKING:
    from memory.graph.cypher import CypherBackend
    from memory.graph.store import CypherGraphStore  # lazy: as above

__all__ = ["CypherGraphStore", "GraphConfig", "open_graph"]


def __getattr__(name: str) -> Any:
    if name == "CypherGraphStore":
        from memory.graph.store import CypherGraphStore  # lazy: the store loads with a graph, not with the config

        return CypherGraphStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def open_graph(cfg: GraphConfig, state_dir: Path) -> CypherGraphStore:
    """Open (creating when absent) the graph ``cfg`` names; ``state_dir`` is the node's."""
    from memory.graph.store import CypherGraphStore  # lazy: as above

    backend: CypherBackend
    if cfg.backend == "ladybug":
        from memory.graph.ladybug_backend import LadybugBackend  # lazy: ladybug, only for the embedded backend

        path = cfg.path or state_dir / "memory" / "graph.lbug"
        backend = await asyncio.to_thread(LadybugBackend, path, cfg.buffer_pool_mb, cfg.min_free_mb)
    else:
        from memory.graph.neo4j_backend import Neo4jBackend  # lazy: the neo4j driver, only for the server backend

        password = ""
        if cfg.password_file is not None:
            try:
                password = cfg.password_file.read_text().strip()
            except OSError as err:
                raise MemoryBackendError(
                    f"memory graph password_file: cannot read {cfg.password_file}: {err.strerror}"
                ) from err
        assert cfg.url is not None  # the config validator guarantees it
        backend = await asyncio.to_thread(Neo4jBackend, cfg.url, cfg.user, password, cfg.database)
    store = CypherGraphStore(backend, cfg.single_valued)
    try:
        return await store.load()
    except BaseException:
        await store.close()
        raise
