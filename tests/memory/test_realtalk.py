"""A fixed regression slice of the hand-written realtalk TUNING set (bench/data/realtalk_mara.json)
through the real embedded store: the retrieval gains measured by bench/memory.py must hold.

Only the tuning conversation is used here; the held-out ones (realtalk_jonas.json, realtalk_ines.json)
are never run by a test, so nothing is fitted to them. With the default ONNX embedder (base install,
so every run has it) the whole tuning set runs and hybrid must clear the figures below, knowledge-update ordering
included; the torch MiniLM (the ``embed-local`` extra) is held to the same figures where installed;
with the hashing embedder the date-keyed questions and the replies folded into owner turns still
must hold.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from bench.realtalk import REALTALK, Dataset, load_realtalk
from memory.archival import ArchivalConfig, QdrantArchivalStore, open_archival
from memory.embed import HashingEmbedder, MiniLMEmbedder, OnnxEmbedder, minilm_available
from memory.protocols import Embedder, PassageIn, Role, SearchMode


async def _open(tmp: Path, ds: Dataset, embedder: Embedder) -> QdrantArchivalStore:
    store = await open_archival(ArchivalConfig(path=tmp / "a"), embedder, tmp)
    await store.add(
        [PassageIn(id=t.id, text=t.text, created_at=t.at, session=t.session, role=Role(t.role)) for t in ds.turns]
    )
    return store


async def _recall(store: QdrantArchivalStore, ds: Dataset, mode: SearchMode) -> dict[str, float]:
    """Evidence recall @5 and @10 overall, @10 on temporal questions, and the share of knowledge-update
    questions whose current turn ranks above the superseded one, from one search per question
    (scored as bench/memory.py scores them)."""
    at5, at10, temporal, current_first = [], [], [], []
    for q in ds.questions:
        if not q.evidence:
            continue
        ids = [h.passage.id for h in await store.search(q.question, limit=10, mode=mode, asked_at=ds.asked_at)]
        ev = set(q.evidence)
        at5.append(len(ev & set(ids[:5])) / len(ev))
        at10.append(len(ev & set(ids)) / len(ev))
        if q.category == "temporal":
            temporal.append(at10[-1])
        if q.superseded:
            cur = min((ids.index(e) for e in ev if e in ids), default=99)
            old = min((ids.index(e) for e in q.superseded if e in ids), default=99)
            current_first.append(float(cur < old))
    return {
        "@5": statistics.fmean(at5),
        "@10": statistics.fmean(at10),
        "temporal@10": statistics.fmean(temporal),
        "current_first": statistics.fmean(current_first),
    }


async def _check_model_figures(tmp: Path, emb: Embedder) -> None:
    ds = load_realtalk(REALTALK["tuning"])
    store = await _open(tmp, ds, emb)
    try:
        # bench/memory.py measured hybrid 0.74 @5 / 0.90 @10, temporal 0.92, current above superseded
        # 0.78 (7 of 9) with ONNX (MiniLM torch: 0.71 / 0.90, 0.92, 0.78; vector alone 0.51 / 0.61;
        # hybrid before the retrieval work 0.27 / 0.40, 0.44); the bounds leave room for float noise
        # across machines and embedder builds
        hybrid, vector = await _recall(store, ds, "hybrid"), await _recall(store, ds, "vector")
        assert hybrid["@10"] >= 0.85 and hybrid["@5"] >= 0.68 and hybrid["temporal@10"] >= 0.85, hybrid
        assert hybrid["current_first"] >= 0.75, hybrid
        assert hybrid["@10"] >= vector["@10"] + 0.2, (hybrid, vector)
    finally:
        await store.close()
        await emb.close()


@pytest.mark.timeout(600)  # 150 ONNX embeddings and ~90 searches; slow on a shared CPU
async def test_tuning_set_with_default_onnx_embedder(tmp_path: Path) -> None:
    await _check_model_figures(tmp_path, OnnxEmbedder())


@pytest.mark.timeout(600)  # 150 MiniLM embeddings and ~80 searches; slow on a shared CPU
async def test_tuning_set_with_minilm(tmp_path: Path) -> None:
    why = minilm_available()
    if why is not None:
        pytest.skip(f"MiniLM not installed here ({why}); CI runs this with the embed-local extra")
    await _check_model_figures(tmp_path, MiniLMEmbedder())


@pytest.mark.timeout(300)
async def test_tuning_set_dates_and_echoes_with_hashing(tmp_path: Path) -> None:
    ds = load_realtalk(REALTALK["tuning"])
    store = await _open(tmp_path, ds, HashingEmbedder(384))
    try:
        by_id = {q.id: q for q in ds.questions}

        async def ids_for(qid: str, k: int) -> list[str]:
            hits = await store.search(by_id[qid].question, limit=k, asked_at=ds.asked_at)
            return [h.passage.id for h in hits]

        session = {t.id: t.session for t in ds.turns}
        # date-keyed, no word in common with what was said then: "What did I do on December 26th?",
        # "What did I talk to you about on September 17th?", "What did I tell you on Boxing Day about the job?"
        top = await ids_for("m19", 10)
        assert {session[i] for i in top[:5]} == {"S9"} and {"swap", "notice"} <= set(top)
        top = await ids_for("m29", 10)
        assert {session[i] for i in top[:5]} == {"S2"} and {"hot", "cap", "ch1"} <= set(top)
        assert {"offer", "notice"} <= set(await ids_for("m24", 10))
        # an echo never ranks above the owner turn it restates
        for q in ds.questions:
            hits = await store.search(q.question, limit=10, asked_at=ds.asked_at)
            pos = {h.passage.id: n for n, h in enumerate(hits)}
            for n, h in enumerate(hits):
                if h.passage.echo and h.passage.reply_to in pos:
                    assert pos[h.passage.reply_to] < n, (q.id, h.passage.id)
    finally:
        await store.close()
