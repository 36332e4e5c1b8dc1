"""Embedders: text -> unit vectors behind :class:`memory.protocols.Embedder`.

:func:`make_embedder` builds the one the config names (see :mod:`memory.embed.config`). The
package stays light (the config imports it): onnxruntime, numpy, torch and sentence-transformers load
only when an embedder that needs them is built or first used, and httpx (~60 ms to import) only with the
OpenAI-compatible one (``OpenAIEmbedder`` resolves lazily, see :func:`__getattr__`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memory.embed.config import EmbedConfig
from memory.embed.hashing import HashingEmbedder
from memory.embed.minilm import MiniLMEmbedder, minilm_available
from memory.embed.onnx import OnnxEmbedder, onnx_available
from memory.errors import MemoryInputError

if TYPE_CHECKING:
    from memory.embed.openai_compat import OpenAIEmbedder
    from memory.protocols import Embedder

__all__ = [
    "EmbedConfig",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "OnnxEmbedder",
    "OpenAIEmbedder",
    "make_embedder",
    "minilm_available",
    "onnx_available",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAIEmbedder":
        from memory.embed.openai_compat import OpenAIEmbedder  # lazy: httpx, only for this backend

        return OpenAIEmbedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def make_embedder(cfg: EmbedConfig) -> Embedder:
    """The embedder ``cfg`` names. An OpenAI-compatible one is probed once to learn its dimension."""
    if cfg.backend == "hashing":
        return HashingEmbedder(cfg.dim)
    if cfg.backend == "onnx":
        return OnnxEmbedder(threads=cfg.threads, batch_size=cfg.batch_size)
    if cfg.backend == "minilm":
        return MiniLMEmbedder(device=cfg.device, batch_size=cfg.batch_size)
    if not cfg.url or not cfg.model:
        raise MemoryInputError("embed.url and embed.model: both are required when embed.backend is 'openai'")
    from memory.embed.openai_compat import OpenAIEmbedder  # lazy: httpx, only for this backend

    emb = OpenAIEmbedder(
        cfg.url, cfg.model, api_key_file=cfg.api_key_file, timeout_s=cfg.timeout_s, batch_size=cfg.batch_size
    )
    try:
        await emb.probe()
    except BaseException:
        await emb.close()
        raise
    return emb
