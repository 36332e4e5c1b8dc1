"""Embedders: hashing (pure), OpenAI-compatible (real HTTP to a stand-in server), MiniLM (the real model)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memory.embed import EmbedConfig, HashingEmbedder, MiniLMEmbedder, OpenAIEmbedder, make_embedder
from memory.embed.minilm import minilm_available
from memory.embed.recent import RecentEmbeddings
from memory.errors import MemoryBackendError, MemoryInputError
from memory.extract import MemoryWriter
from memory.protocols import Embedder, PassageIn, Role
from memory.wiring import open_local
from tests.helpers import REPO, free_port, wait_for
from tests.memory.conftest import hashing_config


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


class StandinServer:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.port = free_port()
        self.log = tmp / f"embed-{self.port}.jsonl"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.standins.embeddings_server",
                "--port",
                str(self.port),
                "--log",
                str(self.log),
                *args,
            ],
            cwd=str(REPO),
        )
        import socket

        def up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(up, timeout=15, what="embeddings stand-in")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandinServer]:
    srv = StandinServer(tmp_path, "--dim", "64", "--token", "s3cret")
    yield srv
    srv.stop()


async def test_hashing_embedder_is_deterministic_unit_length_and_lexical() -> None:
    emb = HashingEmbedder(128)
    assert isinstance(emb, Embedder)
    a, b, c, again = await emb.embed(
        ["the owner prefers neovim", "which editor: neovim", "cats sleep all day", "the owner prefers neovim"]
    )
    assert a == again
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-9) for v in (a, b, c))
    assert _cos(a, b) > _cos(a, c)
    assert emb.model == "hashing-bow-v1-128" and emb.dim == 128 and len(a) == 128
    assert await emb.embed([]) == []
    many = await emb.embed([f"text number {i}" for i in range(100)])  # the threaded path
    assert len(many) == 100 and many[3] == emb.embed_one("text number 3")


async def test_openai_embedder_against_standin(standin: StandinServer, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    emb = OpenAIEmbedder(standin.url, "nomic-embed-text", api_key_file=key, batch_size=3)
    try:
        assert await emb.probe() == 64
        texts = [f"passage {i} about editors" for i in range(7)]
        vecs = await emb.embed(texts)
        assert emb.model == "openai:nomic-embed-text" and emb.dim == 64
        ref = HashingEmbedder(64)
        for t, v in zip(texts, vecs, strict=True):  # order restored from index, unit length restored
            assert math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-6)
            assert _cos(v, ref.embed_one(t)) == pytest.approx(1.0)
    finally:
        await emb.close()
    reqs = standin.requests()
    assert [len(json.loads(str(r["body"]))["input"]) for r in reqs] == [1, 3, 3, 1]  # probe, then batches of 3
    assert all(r["auth"] == "Bearer s3cret" and r["path"] == "/v1/embeddings" for r in reqs)
    assert all(json.loads(str(r["body"]))["model"] == "nomic-embed-text" for r in reqs)


async def test_openai_embedder_errors_are_translated(standin: StandinServer, tmp_path: Path) -> None:
    emb = OpenAIEmbedder(standin.url, "m")  # no token: the stand-in answers 401
    with pytest.raises(MemoryBackendError, match="answered 401"):
        await emb.embed(["x"])
    await emb.close()
    dead = OpenAIEmbedder(f"http://127.0.0.1:{free_port()}", "m", timeout_s=2)
    with pytest.raises(MemoryBackendError, match="unreachable"):
        await dead.embed(["x"])
    with pytest.raises(MemoryBackendError, match="dimension unknown"):
        _ = dead.dim
    await dead.close()
    with pytest.raises(MemoryBackendError, match=r"embed\.url"):
        OpenAIEmbedder("ftp://x", "m")
    with pytest.raises(MemoryBackendError, match="api_key_file"):
        OpenAIEmbedder(standin.url, "m", api_key_file=tmp_path / "missing")


async def test_openai_embedder_server_failure(tmp_path: Path) -> None:
    srv = StandinServer(tmp_path, "--fail-status", "503")
    try:
        emb = OpenAIEmbedder(srv.url, "m")
        with pytest.raises(MemoryBackendError, match="answered 503"):
            await emb.embed(["x"])
        await emb.close()
    finally:
        srv.stop()


async def test_make_embedder_from_config(standin: StandinServer, tmp_path: Path) -> None:
    h = await make_embedder(EmbedConfig(backend="hashing", dim=32))
    assert h.model == "hashing-bow-v1-32"
    with pytest.raises(MemoryInputError, match=r"embed\.url and embed\.model"):
        await make_embedder(EmbedConfig(backend="openai"))
    key = tmp_path / "k"
    key.write_text("s3cret")
    o = await make_embedder(EmbedConfig(backend="openai", url=standin.url, model="x", api_key_file=key))
    assert o.dim == 64  # probed
    await o.close()
    with pytest.raises(ValueError, match="backend"):
        EmbedConfig(backend="word2vec")  # type: ignore[arg-type]


@pytest.mark.skipif(minilm_available() is not None, reason=f"MiniLM: {minilm_available()}")
async def test_minilm_real_model_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = MiniLMEmbedder()
    try:
        q, near, far = await emb.embed(
            [
                "Which text editor does the owner like?",
                "The owner's favourite editor is Neovim.",
                "The cat slept on the warm windowsill.",
            ]
        )
        assert emb.model == "sentence-transformers/all-MiniLM-L6-v2" and len(q) == 384
        assert math.isclose(sum(x * x for x in q), 1.0, rel_tol=1e-4)
        assert _cos(q, near) > _cos(q, far) + 0.2  # semantic, not lexical: few shared words
    finally:
        await emb.close()


async def test_a_turn_searched_then_archived_is_embedded_once(standin: StandinServer, tmp_path: Path) -> None:
    """The memory node embeds a chat turn as its context's query, then the archiver stores the same turn:
    the model is asked once (seen at the embeddings server), and the stored vector is the query's."""
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    cfg = hashing_config()
    cfg.embed = EmbedConfig(backend="openai", url=standin.url, model="nomic-embed-text", api_key_file=key)
    mem = await open_local(cfg, tmp_path / "state")
    turn = "I prefer metric units for everything in the garden plans"
    try:
        await mem.stack.archival.add([PassageIn(text="the NAS lives at 10.0.0.5")])
        assert await mem.stack.archival.search(turn, limit=3) is not None  # the context's query
        await MemoryWriter(mem.stack, owner="Sam").remember(turn, source="chat", role=Role.USER)  # the archiver
        hits = await mem.stack.archival.search(turn, limit=1, mode="vector")
    finally:
        await mem.close()
    inputs = [t for r in standin.requests() for t in json.loads(str(r["body"]))["input"]]
    assert inputs.count(turn) == 1, inputs
    assert hits[0].passage.text == turn and hits[0].score == pytest.approx(1.0)


async def test_recent_embeddings_keep_the_last_texts_and_answer_like_the_model() -> None:
    inner = HashingEmbedder(64)
    recent = RecentEmbeddings(inner, size=4)
    texts = [f"note {i} about the NAS" for i in range(6)]
    assert await recent.embed(texts) == [inner.embed_one(t) for t in texts]
    assert recent.reused == 0 and recent.model == inner.model and recent.dim == 64
    again = await recent.embed([texts[5], texts[0], texts[5]])  # 0 was pushed out by the later four
    assert again == [inner.embed_one(texts[5]), inner.embed_one(texts[0]), inner.embed_one(texts[5])]
    assert recent.reused == 2
    again[0][0] = 99.0  # a caller changing its copy changes nothing kept
    assert (await recent.embed([texts[5]]))[0] == inner.embed_one(texts[5])
    assert await recent.embed([]) == []
