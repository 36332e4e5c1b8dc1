"""Retrieval on conversation turns through the real embedded store: speaker roles, replies folded into
the owner turn they answer, dates named in the query, and passages stored before these existed.

The embedder is the hashing one (deterministic, lexical), so each test controls which words match.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memory.archival import ArchivalConfig, QdrantArchivalStore, open_archival
from memory.archival.dedup import content_hash, point_id
from memory.archival.engine import PointData
from memory.embed import HashingEmbedder
from memory.errors import MemoryInputError
from memory.protocols import Passage, PassageIn, Role, SearchFilters

T0 = datetime(2025, 10, 1, 18, 30, tzinfo=UTC)
ASKED = datetime(2026, 3, 4, 20, 0, tzinfo=UTC)


@pytest.fixture(params=["edge", "qdrant-local"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[QdrantArchivalStore]:
    cfg = (
        ArchivalConfig(path=tmp_path / "a")
        if request.param == "edge"
        else ArchivalConfig(backend="qdrant", url=f"path:{tmp_path / 'q'}", collection="p")
    )
    s = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    yield s
    await s.close()


def turn(text: str, role: Role, at: datetime, session: str = "s1") -> PassageIn:
    return PassageIn(text=text, role=role, created_at=at, session=session)


async def test_replies_are_linked_to_the_owner_turn_they_answer(store: QdrantArchivalStore) -> None:
    owner = turn("I switched my text editor to helix last week", Role.USER, T0)
    echo = turn("So you switched your text editor to Helix last week.", Role.ASSISTANT, T0 + timedelta(seconds=30))
    res = await store.add([owner, echo])
    assert [r.status for r in res] == ["added", "added"]
    got = await store.get(res[1].id)
    assert got.role == Role.ASSISTANT and got.reply_to == res[0].id and got.echo
    mine = await store.get(res[0].id)
    assert mine.role == Role.USER and mine.reply_to is None and not mine.echo

    # a later reply in another add() finds its owner turn in the store; one adding something new is no echo
    q = turn("any tips for the garden", Role.USER, T0 + timedelta(minutes=2))
    tip = turn("Plant garlic in October, water the tomatoes deeply.", Role.ASSISTANT, T0 + timedelta(minutes=3))
    (rq,) = await store.add([q])
    (rt,) = await store.add([tip])
    got = await store.get(rt.id)
    assert got.reply_to == rq.id and not got.echo
    # an assistant turn with no owner turn of its session shortly before it answers nothing
    late = turn("Good morning!", Role.ASSISTANT, T0 + timedelta(hours=5))
    other = turn("Noted, the text editor is helix.", Role.ASSISTANT, T0 + timedelta(minutes=1), session="s2")
    for r in await store.add([late, other]):
        assert (await store.get(r.id)).reply_to is None


async def test_an_echo_ranks_below_the_owner_turn_it_restates(store: QdrantArchivalStore) -> None:
    filler = [turn(f"the {w} backup finished on the storage node", Role.USER, T0 + timedelta(days=d))
              for d, w in enumerate(["first", "second", "third"], start=1)]
    owner = turn("ok confession: helix since two weeks, not going back", Role.USER, T0)
    echo = turn("So your text editor is now Helix, confession noted.", Role.ASSISTANT, T0 + timedelta(seconds=30))
    res = await store.add([owner, echo, *filler])
    # the question shares its words with the assistant's restatement, not with what the owner said
    vec = await store.search("which text editor do I use", limit=3, mode="vector")
    assert vec[0].passage.id == res[1].id  # plain vector search puts the restatement first
    hits = await store.search("which text editor do I use", limit=3)
    ids = [h.passage.id for h in hits]
    assert ids[0] == res[0].id and ids.index(res[1].id) > 0
    # with a filter the owner turn does not pass, the echo keeps its place
    only = await store.search("which text editor do I use", limit=3, filters=SearchFilters(role=Role.ASSISTANT))
    assert [h.passage.id for h in only] == [res[1].id]


async def test_a_date_in_the_query_finds_what_was_said_that_day(store: QdrantArchivalStore) -> None:
    days = {
        datetime(2025, 12, 9, 19, tzinfo=UTC): "had an interview at a climate data company",
        datetime(2025, 12, 26, 16, tzinfo=UTC): "swapped the dying disk in the storage box",
        datetime(2026, 1, 8, 20, tzinfo=UTC): "eating fish again, still no meat",
    }
    filler = [turn(f"random chatter number {i} about what I did and when", Role.USER, T0 + timedelta(days=i))
              for i in range(20)]
    res = await store.add([turn(t, Role.USER, at) for at, t in days.items()] + filler)
    swap = res[1].id
    hits = await store.search("What did I do on December 26th?", limit=3, asked_at=ASKED)
    assert hits[0].passage.id == swap
    assert [h.passage.id for h in await store.search("what happened on boxing day", limit=1, asked_at=ASKED)] == [swap]
    # a caller's own time filter still holds: the window outside it adds nothing
    flt = SearchFilters(until=datetime(2025, 12, 1, tzinfo=UTC))
    assert swap not in [h.passage.id for h in await store.search("December 26th", filters=flt, asked_at=ASKED)]
    with pytest.raises(MemoryInputError, match="asked_at"):
        await store.search("December 26th", asked_at=datetime(2026, 1, 1))


async def test_passages_stored_before_roles_existed_still_load_and_search(store: QdrantArchivalStore) -> None:
    await store.add([PassageIn(text="warm-up passage so the store exists")])
    old_payload = {  # what the store wrote before role / reply_to / echo
        "pid": "old-1", "text": "the NAS lives at 10.0.0.5", "source": "conversation", "tags": [],
        "session": None, "created_at": "2024-05-01T10:00:00Z", "text_hash": content_hash("the NAS lives at 10.0.0.5"),
        "dup": "canonical", "near_duplicate_of": None, "embedding_model": store.embedding_model,
    }
    emb = store.embedder
    (vec,) = await emb.embed(["the NAS lives at 10.0.0.5"])
    bm = store._bm25.document("the NAS lives at 10.0.0.5")  # the store's own encoder, as its writes use
    store._engine.upsert([PointData(point_id("old-1"), vec, bm, old_payload)])
    got = await store.get("old-1")
    assert got.role is None and got.reply_to is None and got.echo is False
    for mode in ("hybrid", "vector", "bm25"):
        assert (await store.search("where is the NAS", limit=1, mode=mode))[0].passage.id == "old-1"
    # an export line from before (no role / reply_to / echo keys) imports and searches
    line = {"id": "old-2", "text": "the printer is in the attic", "source": "conversation", "tags": [],
            "session": None, "created_at": "2024-05-02T10:00:00Z", "embedding_model": "other-model"}
    await store.import_passages([Passage.model_validate(line)])
    assert (await store.search("where is the printer", limit=1))[0].passage.id == "old-2"
