"""Child process for the full-disk tests: the real archival store (or graph), in its own process (a
SIGBUS or an abort kills only this one).

``python -m tests.memory.disk_proc DIR MIN_FREE_MB graph-fill-add|graph-open [LEAVE_MB]``: the same for
the Ladybug graph in ``DIR``.

``python -m tests.memory.disk_proc ROOT MIN_FREE_MB open|fill-add [LEAVE_MB]``: ``fill-add``
stores a batch, fills the filesystem with ``ROOT/../filler`` until ``LEAVE_MB`` are left, then tries
another batch. Prints one JSON line: what is stored, the error (if any), whether reads still work."""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import sys
from pathlib import Path
from typing import Any

from memory.archival import ArchivalConfig, open_archival
from memory.embed import HashingEmbedder
from memory.errors import MemoryLayerError
from memory.graph import GraphConfig, open_graph
from memory.protocols import Entity, PassageIn


def _batch(i: int) -> list[PassageIn]:
    return [PassageIn(text=f"passage {i}-{j} about " + f"w{i}x{j} " * 40) for j in range(100)]


def fill(filler: Path, leave: int) -> None:
    """Write zeros until about ``leave`` bytes are free (or the filesystem is full)."""
    with filler.open("ab") as f:
        while True:
            st = os.statvfs(filler)
            left = st.f_bavail * st.f_frsize - leave
            if left <= 0:
                return
            try:
                f.write(b"\0" * min(left, 1024 * 1024))
                f.flush()
            except OSError:  # ENOSPC: as full as it gets
                return


async def graph(root: Path, min_free_mb: int, action: str) -> None:
    out: dict[str, Any] = {}
    cfg = GraphConfig(min_free_mb=min_free_mb, buffer_pool_mb=64)
    try:
        g = await open_graph(cfg, root)
    except MemoryLayerError as e:
        print(json.dumps({"open_error": str(e), "type": type(e).__name__}), flush=True)
        return
    try:
        if action == "graph-fill-add":
            await g.upsert_entity(Entity(name="first", type="thing"))
            fill(root / "filler", int(sys.argv[4]) * 1024 * 1024)
            try:
                for i in range(500):
                    await g.upsert_entity(Entity(name=f"e{i}" + "x" * 500, type="thing"))
            except MemoryLayerError as e:
                out.update(error=str(e), type=type(e).__name__)
        out["entities"] = (await g.counts())["entities"]
    finally:
        await g.close()
    print(json.dumps(out), flush=True)


async def main(root: Path, min_free_mb: int, action: str) -> None:
    if action.startswith("graph"):
        await graph(root, min_free_mb, action)
        return
    out: dict[str, Any] = {}
    cfg = ArchivalConfig(backend="edge", path=root, min_free_mb=min_free_mb)
    try:
        store = await open_archival(cfg, HashingEmbedder(384), root.parent)
    except MemoryLayerError as e:
        print(json.dumps({"open_error": str(e), "type": type(e).__name__}), flush=True)
        return
    try:
        if action == "fill-add":
            out["added"] = len(await store.add(_batch(0)))
            fill(root.parent / "filler", int(sys.argv[4]) * 1024 * 1024)
            try:
                out["added"] += len(await store.add(_batch(1)))
            except MemoryLayerError as e:
                out.update(error=str(e), type=type(e).__name__)
        out["count"] = await store.count()
        out["search_hits"] = len(await store.search("passage about", limit=3))
    finally:
        await store.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    faulthandler.enable()
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
