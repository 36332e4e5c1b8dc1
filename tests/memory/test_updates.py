"""Knowledge updates in hybrid search, and stable tie-breaks (real embedded store, hashing embedder)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from memory.archival import ArchivalConfig, open_archival
from memory.archival.updates import Candidate, order_updates
from memory.embed import HashingEmbedder
from memory.protocols import PassageIn, SearchFilters

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _c(i: str, day: int, vec: list[float], rel: float = 0.5, source: str = "conversation") -> Candidate:
    return Candidate(i, source, T0 + timedelta(days=day), vec, rel)


def test_newer_same_topic_passage_goes_right_above_the_older() -> None:
    cands = {
        "old": _c("old", 0, [1.0, 0.1, 0.0]),
        "other": _c("other", 1, [0.0, 1.0, 0.0]),
        "new": _c("new", 5, [0.95, 0.2, 0.0]),
    }
    order, moved = order_updates(["old", "other", "new"], cands, 0.8)
    assert order == ["new", "old", "other"] and moved == {"new": "old"}


def test_no_move_across_sources_below_threshold_or_when_much_less_relevant() -> None:
    base = {"old": _c("old", 0, [1.0, 0.0]), "other": _c("other", 1, [0.0, 1.0])}
    other_source = {**base, "new": _c("new", 5, [1.0, 0.05], source="pipeline:x")}
    assert order_updates(["old", "other", "new"], other_source, 0.8)[0] == ["old", "other", "new"]
    dissimilar = {**base, "new": _c("new", 5, [0.5, 0.5])}
    assert order_updates(["old", "other", "new"], dissimilar, 0.8)[0] == ["old", "other", "new"]
    off_topic = {**base, "new": _c("new", 5, [1.0, 0.05], rel=0.2)}
    assert order_updates(["old", "other", "new"], off_topic, 0.8, margin=0.1)[0] == ["old", "other", "new"]


def test_only_mutual_best_pairs_move() -> None:
    # three look-alikes: only the closest newer partner of each older one moves, once
    cands = {
        "a": _c("a", 0, [1.0, 0.0, 0.0]),
        "b": _c("b", 1, [0.9, 0.3, 0.0]),
        "c": _c("c", 2, [0.99, 0.05, 0.0]),
    }
    order, moved = order_updates(["a", "b", "c"], cands, 0.8)
    assert moved == {"c": "a"} and order == ["c", "a", "b"]


async def test_store_ranks_the_update_first_and_a_time_filter_still_finds_the_old_fact(tmp_path: Path) -> None:
    cfg = ArchivalConfig(path=tmp_path / "a", update_cosine=0.3, update_margin=0.5, recency_weight=0.0)
    store = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    try:
        added = await store.add([
            PassageIn(text="For the record, my editor is Vim at the moment.", created_at=T0),
            PassageIn(text="Backups run nightly to the storage node.", created_at=T0 + timedelta(days=1)),
            PassageIn(text="These days my editor is Helix; I gave up on Vim.", created_at=T0 + timedelta(days=60)),
        ])
        old, _, new = (a.id for a in added)
        plain = await store.search("what is my editor at the moment", limit=3, mode="bm25")
        assert plain[0].passage.id == old  # lexically, the old fact wins
        hits = await store.search("what is my editor at the moment", limit=3)
        assert [h.passage.id for h in hits][:2] == [new, old]
        assert hits[0].update_of == old and hits[1].update_of is None
        march = await store.search("what is my editor at the moment", limit=3,
                                   filters=SearchFilters(until=T0 + timedelta(days=30)))
        assert march[0].passage.id == old
    finally:
        await store.close()


async def test_equal_scores_rank_by_passage_id(tmp_path: Path) -> None:
    store = await open_archival(ArchivalConfig(path=tmp_path / "t"), HashingEmbedder(256), tmp_path)
    try:
        # same words, different order: equal BM25 and equal hashing vectors (bag of words + pairs aside)
        await store.add([PassageIn(id=f"p-{c}", text=f"gpu node {c} fan", created_at=T0) for c in "dacb"])
        for mode in ("bm25", "vector", "hybrid"):
            hits = await store.search("fan", limit=4, mode=mode)  # type: ignore[arg-type]
            scores = [h.score for h in hits]
            ids = [h.passage.id for h in hits]
            for k in range(len(hits) - 1):
                if scores[k] == scores[k + 1]:
                    assert ids[k] < ids[k + 1], (mode, ids, scores)
    finally:
        await store.close()
