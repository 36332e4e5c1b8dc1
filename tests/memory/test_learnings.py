"""Learnings: append-only, searchable, stable ids, crash-cut last line dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.errors import BackupFormatError, MemoryInputError, MemoryNotFoundError
from memory.learnings import LearningsLog
from memory.protocols import LearningIn, Learnings, iter_pages

ENTRIES = [
    LearningIn(context="vLLM crashed with CUDA OOM at 32k context", learning="70B needs max_model_len 16k on one GPU",
               apply="start the 70B with --max-model-len 16384", tags=["vllm", "gpu"]),
    LearningIn(context="nightly backup failed", learning="the backup disk fills up after 30 snapshots",
               apply="prune snapshots older than 14 days before backing up", tags=["backup"]),
    LearningIn(context="owner corrected the summary style", learning="owner wants bullet summaries, not prose",
               apply="write research summaries as bullets with sources", tags=["owner", "style"]),
]


async def test_add_get_list_search_and_stable_ids(tmp_path: Path) -> None:
    log = await LearningsLog(tmp_path / "learnings.jsonl").open()
    assert isinstance(log, Learnings)
    added = [await log.add(e) for e in ENTRIES]
    assert [a.id for a in added] == ["L-0001", "L-0002", "L-0003"]
    assert added[0].date <= added[2].date

    reopened = await LearningsLog(tmp_path / "learnings.jsonl").open()
    assert await reopened.get("L-0002") == added[1]
    assert [e.id for e in await reopened.list_learnings()] == ["L-0001", "L-0002", "L-0003"]
    assert [e.id for e in await reopened.list_learnings(limit=2)] == ["L-0002", "L-0003"]
    assert await reopened.list_learnings(since=added[2].date) == [added[2]]
    assert (await reopened.add(LearningIn(context="c", learning="l"))).id == "L-0004"

    hits = await reopened.search("why did the backup disk fill up?")
    assert hits[0].id == "L-0002"
    assert (await reopened.search("vllm out of memory gpu", limit=1))[0].id == "L-0001"
    assert await reopened.search("zebra") == []
    with pytest.raises(MemoryNotFoundError, match="no learning 'L-0099'"):
        await reopened.get("L-0099")
    with pytest.raises(MemoryInputError, match="limit"):
        await reopened.search("x", limit=0)


async def test_an_append_cut_short_by_a_crash_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "learnings.jsonl"
    log = await LearningsLog(path).open()
    await log.add(ENTRIES[0])
    with path.open("ab") as f:  # what a kill -9 between write() and its end leaves on disk
        f.write(b'{"context": "half a li')
    again = await LearningsLog(path).open()
    assert [e.id for e in await again.list_learnings()] == ["L-0001"]
    assert (await again.add(ENTRIES[1])).id == "L-0002"
    assert path.read_bytes().count(b"\n") == 2


async def test_export_pages_and_import_into_an_empty_log(tmp_path: Path) -> None:
    src = await LearningsLog(tmp_path / "a.jsonl").open()
    for e in ENTRIES:
        await src.add(e)
    exported = [e async for e in iter_pages(src.export_page, page_size=2)]
    assert [e.id for e in exported] == ["L-0001", "L-0002", "L-0003"]
    dst = await LearningsLog(tmp_path / "b.jsonl").open()
    await dst.import_learnings(exported)
    assert await dst.list_learnings() == exported
    with pytest.raises(BackupFormatError, match="expected id L-0004"):
        await dst.import_learnings(exported[:1])
