"""The second hop of hybrid search votes only for passages its seeds' words lead to (real embedded
store, hashing embedder: each test controls which words match)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from memory.archival import ArchivalConfig, open_archival
from memory.embed import HashingEmbedder
from memory.protocols import PassageIn

T0 = datetime(2025, 10, 1, 18, 30, tzinfo=UTC)
QUESTION = "Which city is the company Lena works for based in?"


async def _scores(tmp_path: Path, hop_weight: float) -> dict[str, float]:
    cfg = ArchivalConfig(path=tmp_path / f"hop{hop_weight}", hop_weight=hop_weight, hop_from=1)
    store = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    texts = {
        "joined": "Lena works for Cobalt Games since last spring",
        "hq": "Cobalt Games has its headquarters in Oslo",
        # each shares one of the question's own words, none of the seed's other words
        "council": "the city council meets on tuesdays",
        "kiln": "the kiln is based in the shed",
    }
    try:
        added = await store.add(
            [PassageIn(text=t, created_at=T0 + timedelta(minutes=i)) for i, t in enumerate(texts.values())]
        )
        ids = {a.id: name for a, name in zip(added, texts, strict=True)}
        hits = await store.search(QUESTION, limit=10)
        assert ids[hits[0].passage.id] == "joined"  # the seed of the second hop
        return {ids[h.passage.id]: h.score for h in hits}
    finally:
        await store.close()


async def test_the_hop_reaches_through_the_seed_and_does_not_recount_the_question(tmp_path: Path) -> None:
    off, on = await _scores(tmp_path, 0.0), await _scores(tmp_path, 0.5)
    # "Cobalt Games" leads from the seed to the headquarters: the hop adds its vote
    assert on["hq"] > off["hq"]
    # the question's own words were voted by the BM25 ranking already; the hop adds nothing for them
    assert on["council"] == off["council"]
    assert on["kiln"] == off["kiln"]
