"""Knowledge updates in hybrid search, and stable tie-breaks (real embedded store, hashing embedder)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from memory.archival import ArchivalConfig, QdrantArchivalStore, open_archival
from memory.archival.updates import Candidate, order_updates
from memory.embed import HashingEmbedder
from memory.protocols import PassageIn, Role, SearchFilters

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
    cfg = ArchivalConfig(path=tmp_path / "a", update_cosine=0.3, update_cosine_current=0.3, update_margin=0.5,
                         recency_weight=0.0)
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


def test_a_reply_outside_the_ranking_lends_its_vector_to_its_exchange() -> None:
    # the owner turns alone are unlike (cosine 0); their exchanges, each with the assistant's restatement, match
    cands = {
        "old": Candidate("old", "conversation", T0, [1.0, 0.0, 0.0], 0.5, "old"),
        "old-reply": Candidate("old-reply", "conversation", T0 + timedelta(seconds=30), [0.0, 0.0, 1.0], 0.4, "old"),
        "new": Candidate("new", "conversation", T0 + timedelta(days=9), [0.0, 1.0, 0.0], 0.45, "new"),
        "new-reply": Candidate("new-reply", "conversation", T0 + timedelta(days=9, seconds=30), [0.0, 0.1, 1.0], 0.4,
                               "new"),
    }
    order, moved = order_updates(["old", "new"], cands, 0.45)  # the exchanges' mean directions: cosine 0.47
    assert order == ["new", "old"] and moved == {"new": "old"}
    alone = {i: cands[i] for i in ("old", "new")}
    assert order_updates(["old", "new"], alone, 0.45) == (["old", "new"], {})


O1 = "finally got help with the shop: noor from next door comes by two afternoons a week, paid 14 an hour"
E1 = "So Noor from next door now packs your orders two afternoons a week."
O2 = "noor is doing three now, she folds bubble wrap like origami and customers mention it in reviews"
E2 = "So Noor now packs your orders three afternoons a week."
FILLER = ["the kiln reached cone six overnight", "the garage heater runs on a smart plug",
          "my mother keeps the backup disk", "the glaze crawled on a third of the cups"]


async def _exchanges_store(tmp_path: Path, cfg: ArchivalConfig) -> QdrantArchivalStore:
    """Two owner turns on one topic, 40 days apart, worded unlike each other, each answered by the
    assistant's restatement (alike), and unrelated turns."""
    store = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    turns = [("o1", O1, 0, "s1", Role.USER), ("e1", E1, 30, "s1", Role.ASSISTANT),
             ("o2", O2, 40 * 86400, "s2", Role.USER), ("e2", E2, 40 * 86400 + 30, "s2", Role.ASSISTANT)]
    turns += [(f"f{k}", t, (k + 1) * 86400, f"f{k}", Role.USER) for k, t in enumerate(FILLER)]
    await store.add([PassageIn(id=i, text=t, created_at=T0 + timedelta(seconds=s), session=sess, role=r)
                     for i, t, s, sess, r in turns])
    return store


async def test_a_newer_exchange_goes_above_the_older_one_though_its_owner_turns_differ(tmp_path: Path) -> None:
    emb = HashingEmbedder(256)
    o1, e1, o2, e2 = (np.asarray(v) for v in await emb.embed([O1, E1, O2, E2]))
    unit = [(a + b) / np.linalg.norm(a + b) for a, b in ((o1, e1), (o2, e2))]
    assert float(o1 @ o2) < 0.2 and float(unit[0] @ unit[1]) > 0.4  # the premise: alike only as exchanges
    # replies counted as echoes (their own rank lowered), and a head of two: the replies rank below it
    cfg = ArchivalConfig(path=tmp_path / "a", update_cosine=0.35, update_margin=0.2, echo_cosine=0.15,
                         update_window=1)
    store = await _exchanges_store(tmp_path, cfg)
    try:
        plain = await store.search("how many afternoons does noor pack orders", limit=1, mode="vector")
        assert plain[0].passage.id == "o1" or plain[0].passage.reply_to == "o1"
        hits = await store.search("how many afternoons does noor pack orders", limit=1)
        assert [(h.passage.id, h.update_of) for h in hits] == [("o2", "o1")], hits
    finally:
        await store.close()


async def test_a_reply_is_never_taken_for_an_update_of_the_turn_it_answers(tmp_path: Path) -> None:
    # the reply is newer by seconds and the most similar passage there is (cosine 0.56): ordering by
    # pairs of passages took it for the turn's "update" and moved the echo, ranked last, to the top
    cfg = ArchivalConfig(path=tmp_path / "a", update_cosine=0.5, update_margin=0.5)
    store = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    try:
        await store.add([
            PassageIn(id="turn", text="for the record my editor is helix these days, vim is gone", created_at=T0,
                      session="s1", role=Role.USER),
            PassageIn(id="reply", text="So your editor is Helix these days, no longer Vim.",
                      created_at=T0 + timedelta(seconds=30), session="s1", role=Role.ASSISTANT),
            *(PassageIn(text=t, created_at=T0 + timedelta(days=k + 1), session=f"f{k}", role=Role.USER)
              for k, t in enumerate(FILLER)),
        ])
        hits = await store.search("which editor is it", limit=3)
        assert hits[0].passage.id == "turn" and not any(h.update_of == "turn" for h in hits), hits
    finally:
        await store.close()


async def test_a_question_about_the_present_pairs_exchanges_at_update_cosine_current(tmp_path: Path) -> None:
    # the two exchanges' mean directions have cosine 0.41: below update_cosine, above update_cosine_current
    # (no recency prior, which would lift the newer turn on its own)
    cfg = ArchivalConfig(path=tmp_path / "a", update_cosine=0.6, update_cosine_current=0.35, update_margin=0.2,
                         echo_cosine=0.15, recency_weight_current=0.0)
    store = await _exchanges_store(tmp_path, cfg)
    try:
        plain = [h.passage.id for h in await store.search("how many afternoons does noor pack orders", limit=4)]
        assert plain.index("o1") < plain.index("o2"), plain
        now = await store.search("how many afternoons does noor pack orders these days", limit=4)
        ids = [h.passage.id for h in now]
        assert ids.index("o2") < ids.index("o1") and now[ids.index("o2")].update_of == "o1", now
    finally:
        await store.close()
