"""Temporal intent of a query, and what it changes in hybrid search (real embedded store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memory.archival import ArchivalConfig, open_archival
from memory.archival.intent import temporal_intent
from memory.embed import HashingEmbedder
from memory.protocols import PassageIn, SearchHit

T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "intent"),
    [
        ("What is Sam's current camera?", "current"),
        ("which editor do I use now", "current"),
        ("What's my phone these days?", "current"),
        ("is the backup job still failing", "current"),
        ("What editor did I use before neovim?", "past"),
        ("which distro was I originally running", "past"),
        ("what did I use before my current editor?", "past"),  # names the present to point at the past
        ("When did Sam flash the BIOS?", None),
        ("Where does Alex work?", None),
        ("knowledge graph snow", None),  # "now" only as a whole word
    ],
)
def test_temporal_intent(query: str, intent: str | None) -> None:
    assert temporal_intent(query) == intent


async def test_intent_picks_the_recency_prior_and_update_ordering(tmp_path: Path) -> None:
    cfg = ArchivalConfig(
        path=tmp_path / "a", recency_weight=0.0, recency_weight_current=1.0, update_cosine=0.3,
        update_cosine_current=0.3, update_margin=0.5,
    )
    store = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    try:
        passages = [PassageIn(text="For the record, my editor is Vim at the moment.", created_at=T0)]
        passages += [
            PassageIn(text=f"The {w} backup finished on the storage node.", created_at=T0 + timedelta(days=d))
            for d, w in enumerate(["first", "second", "third", "fourth", "fifth"], start=1)
        ]
        passages.append(
            PassageIn(text="These days my editor is Helix; I gave up on Vim.", created_at=T0 + timedelta(days=60))
        )
        added = await store.add(passages)
        old, new = added[0].id, added[-1].id

        def top2(hits: list[SearchHit]) -> list[str]:
            return [h.passage.id for h in hits if h.passage.id in (old, new)]

        assert top2(await store.search("my editor is Vim at the moment?", limit=7, mode="bm25")) == [old, new]
        # present: the newer statement first (recency prior raised, update ordering on)
        assert top2(await store.search("my editor is Vim at the moment?", limit=7)) == [new, old]
        # past: recency and update ordering off, the older statement keeps the rank its words earn
        hits = await store.search("my editor before, Vim?", limit=7)
        assert top2(hits) == [old, new]
        assert all(h.update_of is None for h in hits)
    finally:
        await store.close()
