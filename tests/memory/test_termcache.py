"""The cached BM25 yardstick (memory.archival.termcache) never outlives a write: real embedded store."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from memory.archival import ArchivalConfig, open_archival
from memory.archival.termcache import TermBestCache
from memory.embed import HashingEmbedder
from memory.protocols import PassageIn

T0 = datetime(2025, 3, 1, tzinfo=UTC)
Q = "which backup tool runs on the storage node"


def test_entries_expire_are_scoped_and_bounded() -> None:
    cache = TermBestCache(ttl_s=60.0, max_entries=3)
    cache.put([1, 2], [0.5, 0.25], "")
    assert cache.get([1, 2, 3], "") == [0.5, 0.25, None]
    assert cache.get([1], '{"tags":["x"]}') == [None]  # another filter, another best score
    cache.put([3, 4], [1.0, 2.0], "")  # over the bound: starts over
    assert cache.get([1, 3, 4], "") == [None, 1.0, 2.0]
    cache.clear()
    assert cache.get([3], "") == [None]
    stale = TermBestCache(ttl_s=0.0)
    stale.put([1], [0.5], "")
    time.sleep(0.01)
    assert stale.get([1], "") == [None]


async def test_a_write_refreshes_the_yardstick(tmp_path: Path) -> None:
    # the fused scores after a write equal those of a store opened fresh on the same data; with a
    # yardstick cached from before the write (IDF and best scores changed) they would not
    cfg = ArchivalConfig(path=tmp_path / "a")
    texts = [
        "Restic backs up the storage node every night.",
        "The storage node has four disks in a raidz pool.",
        "I moved the backup job to a new schedule.",
        "The tool for photos is Immich on the storage node.",
    ]
    store = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    try:
        await store.add([PassageIn(text=t, created_at=T0 + timedelta(days=i)) for i, t in enumerate(texts)])
        first = await store.search(Q, limit=5)
        more = PassageIn(text="Backup tool backup tool: restic, backup node.", created_at=T0 + timedelta(days=9))
        await store.add([more])
        after = [(h.passage.id, h.score) for h in await store.search(Q, limit=5)]
    finally:
        await store.close()
    fresh = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    try:
        reopened = [(h.passage.id, h.score) for h in await fresh.search(Q, limit=5)]
    finally:
        await fresh.close()
    assert first and after == reopened
