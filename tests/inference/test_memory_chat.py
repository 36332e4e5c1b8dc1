"""The memory-aware names' plumbing without a daemon: which names are memory-aware (aliases with
memory on), and reading a streamed answer back from the SSE bytes a client was sent."""

from __future__ import annotations

import json

from hydra_os.inference.memory_chat import MemoryChat, StackCache, stream_text
from hydra_os.sections.inference import InferenceConfig
from memory.archiver import ExchangeArchiver
from memory.context_config import ContextConfig
from memory.errors import MemoryUnavailableError
from memory.protocols import MemoryStack


async def _no_memory() -> MemoryStack:
    raise MemoryUnavailableError("no memory node")


def _chat(cfg: InferenceConfig) -> MemoryChat:
    cache = StackCache(_no_memory)
    return MemoryChat(cfg, ContextConfig(), ExchangeArchiver(cache.get, owner="Sam"), cache)


def test_memory_aware_names_and_aliases() -> None:
    cfg = InferenceConfig.model_validate({"aliases": {"chat": "qwen3-8b", "raw": "qwen3-8b"},
                                          "memory": {"aliases": ["chat"]}})
    mc = _chat(cfg)
    assert mc.handles("hydra/assistant") and mc.handles("chat")
    assert not mc.handles("raw") and not mc.handles("qwen3-8b") and not mc.handles(None)
    assert mc.targets == {"hydra/assistant": "hydra/auto", "chat": "chat"}
    assert mc.model_names() == ["hydra/assistant"]
    off = _chat(InferenceConfig.model_validate({"memory": {"enabled": False}}))
    assert not off.handles("hydra/assistant") and off.model_names() == []


def _sse(*events: object) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def test_stream_text_reads_deltas_and_refuses_broken_streams() -> None:
    raw = _sse({"choices": [{"delta": {"role": "assistant"}}]}, {"choices": [{"delta": {"content": "Hel"}}]},
               {"choices": [{"delta": {"content": "lo"}}]}, {"choices": [], "usage": {"total_tokens": 3}})
    assert stream_text(raw) == "Hello"
    broken = _sse({"choices": [{"delta": {"content": "Hel"}}]}, {"error": {"message": "upstream failed"}})
    assert stream_text(broken) is None
