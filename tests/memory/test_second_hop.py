"""The second hop of hybrid search votes only for passages its seeds' words lead to (real embedded
store, hashing embedder: each test controls which words match)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from memory.archival import ArchivalConfig, open_archival
from memory.embed import HashingEmbedder
from memory.protocols import PassageIn, Role

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


async def test_an_owner_turn_and_its_echo_seed_the_hop_once(tmp_path: Path) -> None:
    """The top two hits are one exchange (the owner's turn and the assistant restating it): the second
    seed is the next exchange, whose words lead on to the answer."""
    turns = {
        "works": PassageIn(text="Lena works for Cobalt Games", role=Role.USER, session="s1", created_at=T0),
        "echo": PassageIn(text="Noted: Lena works for Cobalt Games.", role=Role.ASSISTANT, session="s1",
                          created_at=T0 + timedelta(seconds=30)),
        "moved": PassageIn(text="Lena says Cobalt moved into the Harbour Tower", role=Role.USER, session="s2",
                           created_at=T0 + timedelta(days=3)),
        "tower": PassageIn(text="the Harbour Tower stands in Oslo", role=Role.USER, session="s3",
                           created_at=T0 + timedelta(days=9)),
    }
    scores = []
    for hop_weight in (0.0, 0.5):
        cfg = ArchivalConfig(path=tmp_path / f"x{hop_weight}", hop_weight=hop_weight, hop_from=2)
        store = await open_archival(cfg, HashingEmbedder(256), tmp_path)
        try:
            added = await store.add(list(turns.values()))
            ids = {a.id: name for a, name in zip(added, turns, strict=True)}
            assert (await store.get(added[1].id)).reply_to == added[0].id  # one exchange
            hits = await store.search(QUESTION, limit=10)
            scores.append({ids[h.passage.id]: h.score for h in hits})
        finally:
            await store.close()
    off, on = scores
    assert on["tower"] > off["tower"]  # reached through "Harbour Tower", the second exchange's words
