"""Fixtures for the pipeline tests: stand-in sources and chat model on real HTTP, a real memory service
on the bus (real local stores, hashing embedder), real task workers in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hydra_os.bus.client import Bus
from hydra_os.chat.client import OpenAIChat
from hydra_os.sections.research import ResearchConfig
from memory.config import MemoryConfig
from memory.protocols import MemoryStack
from memory.service import MemoryService
from memory.wiring import LocalMemory, client_stack, open_local
from pipelines.research.pipeline import ResearchDeps
from tests.standins.sources.chat_model import ChatStandin
from tests.standins.sources.server import SourceServer
from tests.tasks.conftest import make_worker  # noqa: F401  (the tasks slice's real-worker fixture)


def memory_config() -> MemoryConfig:
    cfg = MemoryConfig()
    cfg.embed.backend = "hashing"
    return cfg


@pytest.fixture
async def sources() -> AsyncIterator[SourceServer]:
    async with SourceServer() as s:
        yield s


@pytest.fixture
async def chat_server() -> AsyncIterator[ChatStandin]:
    async with ChatStandin() as s:
        yield s


@pytest.fixture
async def chat(chat_server: ChatStandin) -> AsyncIterator[OpenAIChat]:
    model = OpenAIChat(chat_server.base_url, timeout_s=10)
    yield model
    await model.close()


@pytest.fixture
async def memory_node(bus: Bus, tmp_path: Path) -> AsyncIterator[LocalMemory]:
    """The memory node's stores, served on hydra.memory.* like the daemon's memory component does."""
    local = await open_local(memory_config(), tmp_path / "memnode")
    async with MemoryService(bus, local.stack, "memnode", local.embedder):
        yield local
    await local.close()


def research_config(src: SourceServer, tmp_path: Path, docs: Path | None = None) -> ResearchConfig:
    return ResearchConfig(
        searxng_url=f"{src.base}/searxng", arxiv_url=f"{src.base}/arxiv/api/query",
        feeds=[f"{src.base}/feeds/news.rss", f"{src.base}/feeds/blog.atom"],
        github_repos=["turboderp-org/exllamav3"], github_api_url=f"{src.base}/github",
        local_dirs=[docs] if docs else [], fetch_timeout_s=5, report_dir=tmp_path / "reports",
    )


def deps_for(bus: Bus, cfg: ResearchConfig, tmp_path: Path, chat: OpenAIChat | None) -> ResearchDeps:
    async def memory() -> MemoryStack:
        return await client_stack(bus, memory_config())

    return ResearchDeps(config=cfg, state_dir=tmp_path / "worker", timezone="Europe/Berlin", chat=chat,
                        memory=memory)
