"""One contract suite for every archival backend.

- ``edge``: embedded Qdrant (qdrant-edge-py) in a temp dir — the default backend.
- ``qdrant-local``: the qdrant-client backend in qdrant-client's local mode with on-disk persistence
  (``path:``), so the same client code path as against a server runs here.

The embedder is the hashing embedder (a real production option, deterministic and fast).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memory.archival import ArchivalConfig, BackgroundOptimizer, QdrantArchivalStore, open_archival
from memory.embed import HashingEmbedder
from memory.errors import EmbeddingModelMismatchError, MemoryInputError, MemoryNotFoundError
from memory.protocols import ArchivalStore, Passage, PassageIn, SearchFilters, iter_pages

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

CORPUS = [
    ("The owner prefers Vim for editing code.", ["preference"], "conversation", "s1", 0),
    ("Hydra runs NATS with JetStream on every node.", ["infra"], "conversation", "s1", 1),
    ("The visual novel's heroine is called Mira and has silver hair.", ["project", "vn"], "research:7", "s2", 2),
    ("ComfyUI generated three character sprites overnight.", ["project", "vn"], "pipeline", "s2", 3),
    ("The GPU node has two RTX 3090 cards with 24 GB each.", ["infra", "hardware"], "conversation", "s3", 4),
    ("Research summary: ExLlamaV3 adds tensor parallelism.", ["research"], "research:9", "s3", 5),
    ("The owner switched from Vim to Helix as the main editor.", ["preference"], "conversation", "s4", 6),
    ("Backups run nightly to the storage node at 03:00.", ["infra"], "conversation", "s4", 7),
]


def cfg_for(kind: str, tmp: Path) -> ArchivalConfig:
    if kind == "edge":
        return ArchivalConfig(backend="edge", path=tmp / "archival")
    return ArchivalConfig(backend="qdrant", url=f"path:{tmp / 'qdrant'}", collection="passages")


@pytest.fixture(params=["edge", "qdrant-local"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(kind: str, tmp_path: Path) -> AsyncIterator[QdrantArchivalStore]:
    s = await open_archival(cfg_for(kind, tmp_path), HashingEmbedder(256), tmp_path)
    yield s
    await s.close()


async def load(store: ArchivalStore) -> list[str]:
    res = await store.add(
        [
            PassageIn(text=t, tags=tags, source=src, session=sess, created_at=T0 + timedelta(days=d))
            for t, tags, src, sess, d in CORPUS
        ]
    )
    assert [r.status for r in res] == ["added"] * len(CORPUS)
    return [r.id for r in res]


async def test_protocol_and_empty_store(store: QdrantArchivalStore) -> None:
    assert isinstance(store, ArchivalStore)
    assert await store.count() == 0
    assert store.embedding_model == "hashing-bow-v1-256"
    assert await store.search("anything") == []
    with pytest.raises(MemoryNotFoundError, match="no such passage"):
        await store.get("nope")


async def test_add_get_and_exact_duplicates_stored_once(store: QdrantArchivalStore) -> None:
    ids = await load(store)
    p = await store.get(ids[2])
    assert p.text.startswith("The visual novel") and p.tags == ["project", "vn"] and p.source == "research:7"
    assert p.session == "s2" and p.created_at == T0 + timedelta(days=2) and p.embedding_model == "hashing-bow-v1-256"
    again = await store.add([PassageIn(text=CORPUS[0][0], source="other"), PassageIn(text="brand new fact")])
    assert again[0].status == "duplicate" and again[0].id == ids[0]
    assert again[1].status == "added"
    same_batch = await store.add([PassageIn(text="twice in one batch"), PassageIn(text="twice in one batch")])
    assert [r.status for r in same_batch] == ["added", "duplicate"] and same_batch[0].id == same_batch[1].id
    assert await store.count() == len(CORPUS) + 2


async def test_near_duplicates_are_linked_and_search_returns_the_group_once(store: QdrantArchivalStore) -> None:
    ids = await load(store)
    res = await store.add(
        [
            PassageIn(text="the owner prefers vim for editing code!"),  # near-duplicate of CORPUS[0]
            PassageIn(text="The owner prefers Emacs for editing code."),  # a different fact: kept apart
        ]
    )
    assert res[0].status == "linked" and res[0].linked_to == ids[0]
    assert res[1].status == "added"
    linked = await store.get(res[0].id)
    assert linked.near_duplicate_of == ids[0]
    hits = await store.search("owner prefers vim for editing code", limit=10)
    texts = [h.passage.text for h in hits]
    assert texts.count("the owner prefers vim for editing code!") == 0
    assert CORPUS[0][0] in texts and "The owner prefers Emacs for editing code." in texts
    # a near-duplicate inside one batch links to the first of the batch
    b = await store.add(
        [PassageIn(text="Deploy window is Sunday night."), PassageIn(text="deploy window is sunday night")]
    )
    assert [r.status for r in b] == ["added", "linked"] and b[1].linked_to == b[0].id


async def test_search_modes_rank_and_report_method_ranks(store: QdrantArchivalStore) -> None:
    ids = await load(store)
    for mode in ("hybrid", "vector", "bm25"):
        hits = await store.search("ExLlamaV3 tensor parallelism research", limit=3, mode=mode)
        assert hits and hits[0].passage.id == ids[5], mode
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    hybrid = await store.search("ExLlamaV3 tensor parallelism research", limit=3)
    assert hybrid[0].vector_rank == 1 and hybrid[0].bm25_rank == 1
    vec = await store.search("ExLlamaV3", mode="vector")
    assert all(h.bm25_rank is None and h.vector_rank is not None for h in vec)
    bm = await store.search("ExLlamaV3", mode="bm25")
    assert [h.passage.id for h in bm] == [ids[5]] and bm[0].vector_rank is None  # BM25 only matches the term
    assert await store.search("the of and", mode="bm25") == []  # stopwords only: no BM25 terms
    assert len(await store.search("infra", limit=2)) == 2


async def test_hybrid_beats_either_method_when_they_disagree(store: QdrantArchivalStore) -> None:
    ids = await load(store)
    # "storage node" + "nightly" spread across the two methods; the fused list must contain the
    # union of both methods' top hits
    q = "when do nightly backups go to the storage node"
    h = await store.search(q, limit=3)
    v = await store.search(q, limit=3, mode="vector")
    b = await store.search(q, limit=3, mode="bm25")
    assert h[0].passage.id == ids[7]
    assert {v[0].passage.id, b[0].passage.id} <= {x.passage.id for x in h}


async def test_filters_tags_source_session_time(store: QdrantArchivalStore) -> None:
    ids = await load(store)
    q = "the owner node project research"

    async def found(f: SearchFilters) -> set[str]:
        return {h.passage.id for h in await store.search(q, limit=50, filters=f)}

    assert await found(SearchFilters(tags=["infra"])) == {ids[1], ids[4], ids[7]}
    assert await found(SearchFilters(tags=["infra", "hardware"])) == {ids[4]}  # every tag must be carried
    assert await found(SearchFilters(source="research:7")) == {ids[2]}
    assert await found(SearchFilters(session="s4")) == {ids[6], ids[7]}
    since, until = T0 + timedelta(days=2), T0 + timedelta(days=5)
    assert await found(SearchFilters(since=since, until=until)) == {ids[2], ids[3], ids[4]}  # since <= t < until
    assert await found(SearchFilters(tags=["vn"], since=T0 + timedelta(days=3))) == {ids[3]}
    for mode in ("vector", "bm25"):
        hits = await store.search("Vim editor", filters=SearchFilters(tags=["preference"]), mode=mode)
        assert {h.passage.id for h in hits} <= {ids[0], ids[6]}


async def test_bad_input_names_the_field(store: QdrantArchivalStore) -> None:
    with pytest.raises(MemoryInputError, match="query"):
        await store.search("   ")
    with pytest.raises(MemoryInputError, match="limit"):
        await store.search("x", limit=0)
    with pytest.raises(MemoryInputError, match="mode"):
        await store.search("x", mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="text"):
        PassageIn(text="")


async def test_persists_across_reopen(kind: str, tmp_path: Path) -> None:
    cfg = cfg_for(kind, tmp_path)
    s = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    ids = await load(s)
    await s.close()
    await s.close()  # idempotent
    s2 = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    try:
        assert await s2.count() == len(CORPUS)
        assert (await s2.get(ids[3])).text == CORPUS[3][0]
        assert (await s2.add([PassageIn(text=CORPUS[3][0])]))[0].status == "duplicate"
        assert (await s2.search("ComfyUI sprites"))[0].passage.id == ids[3]
    finally:
        await s2.close()


async def test_other_model_is_refused_until_reindex(kind: str, tmp_path: Path) -> None:
    cfg = cfg_for(kind, tmp_path)
    s = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    ids = await load(s)
    await s.close()
    other = HashingEmbedder(64)
    s2 = await open_archival(cfg, other, tmp_path)
    try:
        assert s2.embedding_model == "hashing-bow-v1-256"
        for call in (s2.search("Vim"), s2.add([PassageIn(text="new")])):
            with pytest.raises(EmbeddingModelMismatchError) as err:
                await call
            msg = str(err.value)
            assert "hashing-bow-v1-256" in msg and "hashing-bow-v1-64" in msg and "hydra memory reindex" in msg
        progress: list[tuple[int, int]] = []
        n = await s2.reindex(other, progress=lambda d, t: progress.append((d, t)))
        assert n == len(CORPUS) and progress[-1] == (len(CORPUS), len(CORPUS))
        assert s2.embedding_model == "hashing-bow-v1-64"
        assert await s2.count() == len(CORPUS)
        p = await s2.get(ids[4])
        assert p.embedding_model == "hashing-bow-v1-64" and p.text == CORPUS[4][0]
        assert (await s2.search("RTX 3090 GPU cards", mode="vector"))[0].passage.id == ids[4]
        page = await s2.export_page(None, 100)
        assert all(x.vector is not None and len(x.vector) == 64 for x in page.items)
    finally:
        await s2.close()
    s3 = await open_archival(cfg, HashingEmbedder(64), tmp_path)  # the switch survived a reopen
    try:
        assert await s3.count() == len(CORPUS) and s3.embedding_model == "hashing-bow-v1-64"
    finally:
        await s3.close()


async def test_export_then_import_into_an_empty_store(store: QdrantArchivalStore, kind: str, tmp_path: Path) -> None:
    ids = await load(store)
    link = await store.add([PassageIn(text="the owner prefers vim for editing code!")])
    exported: list[Passage] = [p async for p in iter_pages(store.export_page, page_size=3)]
    assert len(exported) == len(CORPUS) + 1 and len({p.id for p in exported}) == len(exported)
    assert all(p.vector is not None and len(p.vector) == 256 for p in exported)
    target = await open_archival(cfg_for(kind, tmp_path / "restore"), HashingEmbedder(256), tmp_path / "restore")
    try:
        # one passage without its vector and one from another model are re-embedded on import
        exported[0] = exported[0].model_copy(update={"vector": None})
        exported[1] = exported[1].model_copy(update={"embedding_model": "some-other-model", "vector": [0.0] * 3})
        await target.import_passages(exported)
        assert await target.count() == len(exported)
        for pid in ids:
            a, b = await store.get(pid), await target.get(pid)
            skip = {"vector", "embedding_model"}
            assert a.model_dump(exclude=skip) == b.model_dump(exclude=skip)
        assert (await target.get(link[0].id)).near_duplicate_of == ids[0]
        assert (await target.search("tensor parallelism"))[0].passage.id == ids[5]
        assert (await target.add([PassageIn(text=CORPUS[2][0])]))[0].status == "duplicate"
    finally:
        await target.close()


async def test_optimize_runs_beside_searches(store: QdrantArchivalStore) -> None:
    await store.add([PassageIn(text=f"note {i}: the node {i % 7} handled task {i}") for i in range(600)])
    ids = await load(store)

    async def searches() -> int:
        n = 0
        for _ in range(20):
            hits = await store.search("GPU node RTX 3090 cards", limit=5)
            assert hits[0].passage.id == ids[4]
            n += 1
            await asyncio.sleep(0)
        return n

    # the searches may end the run (the owner's reads win); it reruns once the store is quiet for 0.5 s
    async with BackgroundOptimizer(store, interval_s=3600, quiet_s=0.5) as opt:
        opt.kick()
        n = await searches()
        for _ in range(600):
            if opt.runs:
                break
            await asyncio.sleep(0.05)
    assert n == 20 and opt.runs >= 1
    assert await store.count() == 600 + len(CORPUS)
    assert (await store.search("ComfyUI sprites"))[0].passage.id == ids[3]


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="url"):
        ArchivalConfig(backend="qdrant")
    with pytest.raises(ValueError, match="rrf_k"):
        ArchivalConfig(rrf_k=0)
    with pytest.raises(ValueError, match="extra"):
        ArchivalConfig(colection="x")  # type: ignore[call-arg]
