"""Days a passage names, read against when it was said (memory.archival.named), and a date-keyed
question finding the turn said days later about that day (real embedded store, hashing embedder)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from memory.archival import ArchivalConfig, QdrantArchivalStore, open_archival
from memory.archival.dedup import content_hash, point_id
from memory.archival.engine import PointData
from memory.archival.named import named_days
from memory.embed import HashingEmbedder
from memory.protocols import PassageIn, SearchFilters

SAID = datetime(2025, 10, 14, 18, 0, tzinfo=UTC)  # a Tuesday


def days(text: str, said: datetime = SAID) -> list[date]:
    return [d.date() for d in named_days(text, said)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("last sunday the scrub found errors", [date(2025, 10, 12)]),
        # a bare weekday: the tense decides, so both the one before and the one after
        ("the scrub on sunday found errors", [date(2025, 10, 12), date(2025, 10, 19)]),
        ("next monday I start", [date(2025, 10, 20)]),
        ("yesterday was rough", [date(2025, 10, 13)]),
        ("the day before yesterday", [date(2025, 10, 12)]),
        ("three days ago", [date(2025, 10, 11)]),
        ("tomorrow the disk arrives", [date(2025, 10, 15)]),
        ("last night the ups beeped", [date(2025, 10, 13)]),
        ("over the weekend I repasted it", [date(2025, 10, 11), date(2025, 10, 12)]),
        ("this weekend I'll repaste it", [date(2025, 10, 18), date(2025, 10, 19)]),
        # without a year, the nearest occurrence: "I start january 12th" said in December is the coming one
        ("I start january 12th", [date(2026, 1, 12)]),
        ("Boxing Day was quiet", [date(2025, 12, 26)]),
        # a day of the month: this month's, and last month's while this month's is still to come
        ("the new disk arrived on the 3rd", [date(2025, 10, 3)]),
        ("I'm flying out on the 15th", [date(2025, 9, 15), date(2025, 10, 15)]),
        ("since the 20th of September", [date(2025, 9, 20)]),
    ],
)
def test_named_days(text: str, expected: list[date]) -> None:
    assert days(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "today I swapped the disk",  # the day it was said is already its own time
        "last week was busy",  # too vague to key a date question on
        "christmas plan: going to my brother's",  # three days: too vague as well
        "in December we fly",
        "I climb on sundays",  # a habit, no day
        "two 3090s and 128 gigs of ram",
        "this week has been long",
    ],
)
def test_nothing_named(text: str) -> None:
    assert days(text) == []


@pytest.mark.parametrize("backend", ["edge", "qdrant-local"])
async def test_a_date_question_finds_the_turn_said_later_about_that_day(backend: str, tmp_path: Path) -> None:
    cfg = (ArchivalConfig(path=tmp_path / "a") if backend == "edge"
           else ArchivalConfig(backend="qdrant", url=f"path:{tmp_path / 'q'}"))
    store = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    try:
        things = ["kiln", "glaze order", "printer", "garden", "bike", "invoice", "fridge", "router", "boiler",
                  "car", "roof", "piano", "laptop", "camera", "oven", "sofa"]
        filler = [  # said on every day around it, two of them on the 12th itself
            PassageIn(text=f"what happened with the {w}: it needs looking at", created_at=SAID - timedelta(days=i % 8))
            for i, w in enumerate(things)
        ]
        told = PassageIn(text="the scrub on sunday found checksum errors on one disk", created_at=SAID)
        added = await store.add([*filler, told])
        asked = SAID + timedelta(days=30)
        hits = await store.search("What happened on October 12th?", limit=3, asked_at=asked)
        assert added[-1].id in [h.passage.id for h in hits]
        # a caller's own time bounds are about when a passage was said: they still hold
        bounded = SearchFilters(since=SAID - timedelta(days=5), until=SAID - timedelta(hours=1))
        hits = await store.search("What happened on October 12th?", limit=5, asked_at=asked, filters=bounded)
        assert added[-1].id not in [h.passage.id for h in hits]
    finally:
        await store.close()


async def _naming(store: QdrantArchivalStore, day: date) -> list[str]:
    """The passages whose ``named_days`` hold ``day`` (the engine's own filtered query)."""
    (qv,) = await store.embedder.embed(["anything"])
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    flt = SearchFilters(since=start, until=start + timedelta(days=1))
    return [f.payload["pid"] for f in store._engine.query("dense", [qv], 10, flt, True, ("pid",), "named_days")[0]]


async def test_a_passage_stored_before_named_days_gains_them_on_reindex(tmp_path: Path) -> None:
    store = await open_archival(ArchivalConfig(path=tmp_path / "a"), HashingEmbedder(256), tmp_path)
    try:
        text = "the scrub on sunday found checksum errors on one disk"
        await store.add([PassageIn(id="filler", text="the kiln needs a new element", created_at=SAID)])
        (vec,) = await store.embedder.embed([text])
        payload: dict[str, object] = {  # written by a version without named_days
            "pid": "old", "text": text, "source": "conversation", "tags": [], "session": None,
            "created_at": "2025-10-14T18:00:00Z", "text_hash": content_hash(text), "dup": "canonical",
            "near_duplicate_of": None, "embedding_model": store.embedding_model,
        }
        store._engine.upsert([PointData(point_id("old"), vec, store._bm25.document(text), payload)])
        assert (await store.get("old")).text == text
        assert await _naming(store, date(2025, 10, 12)) == []
        await store.reindex(HashingEmbedder(128))
        assert await _naming(store, date(2025, 10, 12)) == ["old"]
    finally:
        await store.close()
