"""Builds the memory stack from config: the one place memory backends are chosen.

- :func:`open_local` opens the stores in a state dir (the memory node, or ``--offline`` CLI use).
- :class:`MemoryComponent` is what the daemon runs on a node with the ``memory`` role: the local
  stores, the bus service on ``hydra.memory.*`` and the background archival optimiser.
- Every other node reaches memory with :class:`memory.service.MemoryClient` (``client_stack``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from hydra_os.bus.client import Bus
from hydra_os.component import NodeContext
from hydra_os.errors import HydraError
from memory.archival import BackgroundOptimizer, open_archival
from memory.config import CoreConfig, ExtractConfig, MemoryConfig
from memory.core.blocks import DEFAULT_BLOCKS, BlockBackendBase
from memory.core.letta import LettaCoreMemory
from memory.core.native import NativeCoreMemory
from memory.embed import make_embedder, minilm_available
from memory.errors import MemoryBackendError
from memory.extract import ChatExtractor
from memory.graph import open_graph
from memory.learnings import LearningsLog
from memory.protocols import Embedder, MemoryStack
from memory.service import MemoryClient, MemoryService


def _secret(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise MemoryBackendError(f"{what}: cannot read {path}: {e.strerror}") from None
    return value or None


async def open_core(cfg: CoreConfig, state_dir: Path) -> BlockBackendBase:
    if cfg.backend == "letta":
        assert cfg.letta_url is not None  # the config validator guarantees it
        letta = LettaCoreMemory(
            cfg.letta_url,
            api_key=_secret(cfg.letta_api_key_file, "memory.core.letta_api_key_file"),
            tag=cfg.letta_tag,
            timeout=cfg.timeout_s,
        )
        try:
            return await letta.open()
        except BaseException:
            await letta.close()
            raise
    return await NativeCoreMemory(cfg.path or state_dir / "memory" / "core").open()


@dataclass
class LocalMemory:
    """Opened local stores plus the embedder they use. ``close()`` is idempotent."""

    stack: MemoryStack
    embedder: Embedder
    _closed: bool = field(default=False, repr=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.stack.close()
        await self.embedder.close()


async def open_local(cfg: MemoryConfig, state_dir: Path, *, create_defaults: bool = True) -> LocalMemory:
    """Open every store under ``state_dir``; with ``create_defaults`` the default core blocks exist after."""
    async with contextlib.AsyncExitStack() as undo:  # closes what was opened if a later store fails
        core = await open_core(cfg.core, state_dir)
        undo.push_async_callback(core.close)
        if create_defaults:
            await core.ensure_blocks(DEFAULT_BLOCKS)
        if cfg.embed.backend == "minilm":  # its import of torch takes seconds: do it off the event loop
            await asyncio.to_thread(minilm_available)
        embedder = await make_embedder(cfg.embed)
        undo.push_async_callback(embedder.close)
        archival = await open_archival(cfg.archival, embedder, state_dir)
        undo.push_async_callback(archival.close)
        graph = await open_graph(cfg.graph, state_dir)
        undo.push_async_callback(graph.close)
        learnings = await LearningsLog(cfg.learnings_path or state_dir / "memory" / "learnings.jsonl").open()
        undo.pop_all()
    return LocalMemory(MemoryStack(core=core, archival=archival, graph=graph, learnings=learnings), embedder)


def make_extractor(cfg: ExtractConfig) -> ChatExtractor | None:
    """The LLM extractor, or None when no endpoint is configured (extraction off)."""
    if not cfg.url:
        return None
    return ChatExtractor(
        cfg.url, cfg.model, api_key=_secret(cfg.api_key_file, "memory.extract.api_key_file"),
        timeout_s=cfg.timeout_s, max_chars=cfg.max_chars,
    )


async def client_stack(bus: Bus, cfg: MemoryConfig) -> MemoryStack:
    """The memory of the cluster, over the bus (raises MemoryUnavailableError if no memory node answers)."""
    client = await MemoryClient(bus, timeout=cfg.service.request_timeout_s).open()
    return client.stack()


class MemoryComponent:
    """The memory node's component: owns the stores and serves them on the bus.

    ``start()`` returns at once and the stores open in the background (loading an embedding model
    can take seconds), so the node is ready without waiting for memory; until the service is up,
    clients get MemoryUnavailableError. If opening fails (a Letta or Qdrant server down, a missing
    extra) the error shows in ``status()`` and opening is retried with backoff.
    """

    name = "memory"

    def __init__(self, cfg: MemoryConfig, state_dir: Path, bus: Bus, node_id: str) -> None:
        self.cfg = cfg
        self.state_dir = state_dir
        self.bus = bus
        self.node_id = node_id
        self.local: LocalMemory | None = None
        self.service: MemoryService | None = None
        self.optimizer: BackgroundOptimizer | None = None
        self.error: str | None = None
        self.attempts = 0
        self._serving = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._open_loop(), name="memory-open")

    async def wait_serving(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._serving.wait(), timeout)

    async def _open_loop(self) -> None:
        delay = 1.0
        while True:
            self.attempts += 1
            try:
                await self._open()
                self.error = None
                self._serving.set()
                logger.info("memory: serving {} on hydra.memory.*", self.state_dir / "memory")
                return
            except Exception as e:  # anything: report it, keep the node up, try again
                self.error = str(e) if isinstance(e, HydraError) else f"{type(e).__name__}: {e}"
                logger.error("memory: cannot open the stores (attempt {}): {}; retrying in {:.0f}s",
                             self.attempts, self.error, delay)
                await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def _open(self) -> None:
        self.local = await open_local(self.cfg, self.state_dir)
        self.service = MemoryService(self.bus, self.local.stack, self.node_id, self.local.embedder)
        await self.service.start()
        self.optimizer = BackgroundOptimizer(self.local.stack.archival, self.cfg.service.optimize_interval_s)
        await self.optimizer.start()

    async def _close(self) -> None:
        optimizer, self.optimizer = self.optimizer, None
        if optimizer is not None:
            await optimizer.stop()
        service, self.service = self.service, None
        if service is not None:
            await service.stop()
        local, self.local = self.local, None
        if local is not None:
            await local.close()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._serving.clear()
        await self._close()

    def status(self) -> dict[str, Any]:
        state = "serving" if self._serving.is_set() else ("error" if self.error else "opening")
        out: dict[str, Any] = {
            "state": state,
            "core_backend": self.cfg.core.backend,
            "archival_backend": self.cfg.archival.backend,
            "graph_backend": self.cfg.graph.backend,
            "embed_backend": self.cfg.embed.backend,
        }
        if self.error:
            out["error"] = self.error
            out["attempts"] = self.attempts
        if self.local is not None and state == "serving":
            out["embedding_model"] = self.local.stack.archival.embedding_model
            out["optimizer_runs"] = self.optimizer.runs if self.optimizer else 0
        return out


def build_memory_component(ctx: NodeContext) -> MemoryComponent:
    cfg: MemoryConfig = ctx.settings.memory
    return MemoryComponent(cfg, ctx.state_dir, ctx.bus, ctx.node_id)
