"""Start-up of the embedded archival store never deletes a generation it cannot prove superseded.

A real qdrant-edge store with passages, then ``CURRENT`` broken three ways (missing, empty, naming a
generation that does not exist), a half-built reindex generation beside it, and corrupt metadata.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from memory.archival import ArchivalConfig, QdrantArchivalStore, open_archival
from memory.embed import HashingEmbedder
from memory.errors import MemoryBackendError
from memory.protocols import PassageIn

N = 12


async def _open(root: Path, dim: int = 64) -> QdrantArchivalStore:
    return await open_archival(ArchivalConfig(backend="edge", path=root), HashingEmbedder(dim), root.parent)


async def _filled(tmp_path: Path, reindexed: bool = False) -> Path:
    root = tmp_path / "archival"
    s = await _open(root)
    res = await s.add([PassageIn(text=f"passage number {i} about topic {i * 7}") for i in range(N)])
    assert len(res) == N
    if reindexed:  # gen-0001 superseded by gen-0002
        await s.reindex(HashingEmbedder(64))
    await s.close()
    return root


def _gens(root: Path) -> list[str]:
    return sorted(d.name for d in root.glob("gen-*"))


@pytest.mark.parametrize("breakage", ["missing", "empty", "dangling"])
async def test_broken_current_recovers_the_newest_complete_generation(tmp_path: Path, breakage: str) -> None:
    root = await _filled(tmp_path)
    current = root / "CURRENT"
    if breakage == "missing":
        current.unlink()
    elif breakage == "empty":
        current.write_text("")
    else:
        current.write_text("gen-0009\n")
    s = await _open(root)
    try:
        assert await s.count() == N
    finally:
        await s.close()
    assert _gens(root) == ["gen-0001"]
    assert current.read_text().strip() == "gen-0001"


async def test_recovery_prefers_the_newest_complete_over_a_half_built_one(tmp_path: Path) -> None:
    root = await _filled(tmp_path, reindexed=True)
    assert _gens(root) == ["gen-0002"]
    # a reindex that crashed half way: a newer generation with no completion marker
    shutil.copytree(root / "gen-0002", root / "gen-0003")
    (root / "gen-0003" / "COMPLETE").unlink()
    meta = json.loads((root / "gen-0003" / "meta.json").read_text())
    (root / "gen-0003" / "meta.json").write_text(json.dumps({**meta, "generation": 3}))
    (root / "CURRENT").unlink()
    s = await _open(root)
    try:
        assert await s.count() == N
    finally:
        await s.close()
    assert (root / "CURRENT").read_text().strip() == "gen-0002"
    assert set(_gens(root)) >= {"gen-0002", "gen-0003"}  # nothing it could not prove superseded is gone


async def test_no_complete_generation_refuses_and_touches_nothing(tmp_path: Path) -> None:
    root = await _filled(tmp_path)
    (root / "gen-0001" / "COMPLETE").unlink()
    shutil.copytree(root / "gen-0001", root / "gen-0002")
    (root / "CURRENT").unlink()
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    with pytest.raises(MemoryBackendError) as err:
        await _open(root)
    msg = str(err.value)
    assert "\n" not in msg and str(root / "CURRENT") in msg and "gen-0001" in msg and "gen-0002" in msg
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before


async def test_dangling_current_without_any_generation_refuses(tmp_path: Path) -> None:
    root = tmp_path / "archival"
    root.mkdir()
    (root / "CURRENT").write_text("gen-0004")
    with pytest.raises(MemoryBackendError, match="CURRENT"):
        await _open(root)
    assert (root / "CURRENT").read_text() == "gen-0004"


async def test_corrupt_live_metadata_deletes_no_generation(tmp_path: Path) -> None:
    root = await _filled(tmp_path, reindexed=True)
    # a stale older generation beside the live one, and the live one's metadata damaged
    shutil.copytree(root / "gen-0002", root / "gen-0001")
    (root / "gen-0002" / "meta.json").write_text("{not json")
    with pytest.raises(MemoryBackendError) as err:
        await _open(root)
    assert str(root / "gen-0002" / "meta.json") in str(err.value)
    assert _gens(root) == ["gen-0001", "gen-0002"]
    assert (root / "gen-0002" / "meta.json").read_text() == "{not json"


async def test_a_store_from_before_the_marker_still_opens_and_gains_it(tmp_path: Path) -> None:
    root = await _filled(tmp_path)
    (root / "gen-0001" / "COMPLETE").unlink()  # as written by earlier versions
    s = await _open(root)
    try:
        assert await s.count() == N
    finally:
        await s.close()
    assert (root / "gen-0001" / "COMPLETE").exists()
