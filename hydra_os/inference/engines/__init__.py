"""Model engines: one module per engine kind, a runner (child process or systemd unit), and the
supervisor of one running model. :func:`engine_for` picks the engine for a model's ``engine``."""

from __future__ import annotations

from pathlib import Path

from hydra_os.inference.engines.base import Engine, Launch, Probe
from hydra_os.inference.engines.llama_server import LlamaServerEngine
from hydra_os.inference.engines.tabbyapi import TabbyApiEngine
from hydra_os.inference.engines.vllm import VllmEngine

__all__ = ["Engine", "Launch", "Probe", "engine_for"]


def engine_for(kind: str, *, tabbyapi_dir: Path | None = None) -> Engine:
    if kind == "vllm":
        return VllmEngine()
    if kind == "llama-server":
        return LlamaServerEngine()
    if kind == "tabbyapi":
        return TabbyApiEngine(tabbyapi_dir)
    raise ValueError(f"unknown engine {kind!r}; expected vllm, tabbyapi or llama-server")
