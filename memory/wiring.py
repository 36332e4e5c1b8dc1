"""Builds the memory stack from config: the one place memory backends are chosen.

- :func:`open_local` opens the stores in a state dir (the memory node, or ``--offline`` CLI use).
- :class:`MemoryComponent` is what the daemon runs on a node with the ``memory`` role: the local
  stores, the bus service on ``hydra.memory.*`` and the background archival optimiser.
- Every other node reaches memory with :class:`memory.client.MemoryClient` (``client_stack``);
  :class:`MemoryApi` serves ``/v1/memory/*`` and ``/v1/feedback`` through it on every node.

Nothing here knows the daemon: the wiring hands over the config, the bus and the API's auth dependency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from fastapi import APIRouter, Depends, Query
from loguru import logger
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hydra_os.api.auth import BearerToken
from hydra_os.bus.client import Bus
from hydra_os.errors import HydraError
from hydra_os.lifecycle import ComponentState, Lifecycle, Registers
from hydra_os.secrets import read_optional_secret
from memory.archival import BackgroundOptimizer, open_archival
from memory.client import MemoryClient, MemoryLink
from memory.config import CoreConfig, ExtractConfig, MemoryConfig
from memory.context import ContextBuilder
from memory.core.blocks import DEFAULT_BLOCKS, BlockBackendBase
from memory.core.native import NativeCoreMemory
from memory.embed import MiniLMEmbedder, make_embedder, minilm_available
from memory.embed.config import EmbedConfig
from memory.embed.minilm import DIM, MODEL_NAME
from memory.embed.recent import RecentEmbeddings
from memory.errors import MemoryBackendError
from memory.extract import ChatExtractor, MemoryWriter
from memory.feedback import Rating, record_feedback
from memory.graph import open_graph
from memory.learnings import LearningsLog
from memory.protocols import ArchivalStore, CoreMemory, Embedder, GraphStore, Learnings, MemoryStack, Role
from memory.service import MemoryService
from memory.store_down import StoreDown, StoreName, store_states


async def open_core(cfg: CoreConfig, state_dir: Path) -> BlockBackendBase:
    if cfg.backend == "letta":
        try:
            from memory.core.letta import LettaCoreMemory  # lazy: the letta extra (letta-client) is optional
        except ImportError as e:
            raise MemoryBackendError(
                f"memory.core.backend 'letta' needs the letta extra ({e.name} missing): pip install 'hydra-os[letta]'"
            ) from None
        assert cfg.letta_url is not None  # the config validator guarantees it
        letta = LettaCoreMemory(
            cfg.letta_url,
            api_key=read_optional_secret(cfg.letta_api_key_file, "memory.core.letta_api_key_file"),
            tag=cfg.letta_tag,
            timeout=cfg.timeout_s,
        )
        try:
            return await letta.open()
        except BaseException:
            await letta.close()
            raise
    return await NativeCoreMemory(cfg.path or state_dir / "memory" / "core").open()


class DeferredMiniLM:
    """The torch MiniLM embedder (``embed.backend = "minilm"``), built on first use.

    Loading it imports torch (seconds of CPU, hundreds of MB), so a memory node that has not embedded
    anything yet has not paid for it. Offline CLI commands on core blocks, the graph and learnings
    work even where the ``embed-local`` extra is missing (archival then fails with the extra's
    install hint); a memory node reports the missing extra at open (:func:`check_embedder`).
    """

    def __init__(self, cfg: EmbedConfig) -> None:
        self._cfg = cfg
        self._model_name, self._dim = MODEL_NAME, DIM
        self._inner: Embedder | None = None
        self._lock = asyncio.Lock()

    @property
    def model(self) -> str:
        return self._model_name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if self._inner is None:
            async with self._lock:
                if self._inner is None:
                    # instant: the model itself loads in the embedder's daemon worker thread
                    self._inner = MiniLMEmbedder(self._cfg.device, self._cfg.batch_size)
        return await self._inner.embed(texts)

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


async def _embedder(cfg: MemoryConfig) -> Embedder:
    if cfg.embed.backend == "minilm":
        return DeferredMiniLM(cfg.embed)
    return await make_embedder(cfg.embed)


EMBEDDER_CHECK_TIMEOUT_S = 120.0  # loading a model on a busy CPU takes seconds, never minutes


async def check_embedder(embedder: Embedder) -> None:
    """Raise MemoryBackendError unless ``embedder`` can embed: a memory node whose embedder is broken
    must report an error, not serve a memory that cannot remember or search.

    The torch MiniLM is only looked up (loading torch costs seconds and hundreds of MB, which stays
    deferred to the first embedding); every other embedder embeds one sentence, which must come
    back as one vector of the embedder's dimension.
    """
    if isinstance(embedder, DeferredMiniLM):
        why = minilm_available()
        if why is not None:
            raise MemoryBackendError(f"embedder minilm: {why}")
        return
    try:
        async with asyncio.timeout(EMBEDDER_CHECK_TIMEOUT_S):
            vecs = await embedder.embed(["embedder check"])
    except TimeoutError:
        raise MemoryBackendError(
            f"embedder {embedder.model}: no vector within {EMBEDDER_CHECK_TIMEOUT_S:.0f}s"
        ) from None
    if len(vecs) != 1 or len(vecs[0]) != embedder.dim:
        got = len(vecs[0]) if vecs else 0
        raise MemoryBackendError(f"embedder {embedder.model}: a vector of {got} dims, expected {embedder.dim}")


@dataclass
class LocalMemory:
    """Opened local stores plus the embedder they use. ``close()`` is idempotent.

    A store that could not be opened is a :class:`StoreDown` in ``stack`` and its reason is in
    ``down``; :meth:`reopen` tries it again.
    """

    stack: MemoryStack
    embedder: Embedder
    cfg: MemoryConfig
    state_dir: Path
    create_defaults: bool = True
    down: dict[StoreName, str] = field(default_factory=dict)
    _closed: bool = field(default=False, repr=False)

    async def reopen(self, name: StoreName) -> bool:
        """Open one store (again); on failure it stays a StoreDown with the reason. True when open."""
        try:
            store = await self._open(name)
        except Exception as e:  # any failure of this one store: report it, keep the others serving
            reason = str(e) if isinstance(e, HydraError) else f"{type(e).__name__}: {e}"
            if self.down.get(name) != reason:
                logger.error("memory: the {} store is down: {}", name, reason)
            self.down[name] = reason
            setattr(self.stack, name.value, StoreDown(name, reason))
            return False
        old = getattr(self.stack, name.value)
        setattr(self.stack, name.value, store)
        await old.close()
        if self.down.pop(name, None) is not None:
            logger.info("memory: the {} store is open again", name)
        return True

    async def _open(self, name: StoreName) -> Any:
        cfg, state_dir = self.cfg, self.state_dir
        if name is StoreName.CORE:
            core = await open_core(cfg.core, state_dir)
            if self.create_defaults:
                try:
                    await core.ensure_blocks(DEFAULT_BLOCKS)
                except BaseException:
                    await core.close()
                    raise
            return core
        if name is StoreName.ARCHIVAL:
            # a chat turn is embedded as its context's query, then again when archived: the second is reused
            return await open_archival(cfg.archival, RecentEmbeddings(self.embedder), state_dir)
        if name is StoreName.GRAPH:
            return await open_graph(cfg.graph, state_dir)
        return await LearningsLog(cfg.learnings_path or state_dir / "memory" / "learnings.jsonl").open()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.stack.close()
        await self.embedder.close()


def _all_down(reason: str) -> MemoryStack:
    return MemoryStack(
        core=cast(CoreMemory, StoreDown(StoreName.CORE, reason)),
        archival=cast(ArchivalStore, StoreDown(StoreName.ARCHIVAL, reason)),
        graph=cast(GraphStore, StoreDown(StoreName.GRAPH, reason)),
        learnings=cast(Learnings, StoreDown(StoreName.LEARNINGS, reason)),
    )


async def open_local(cfg: MemoryConfig, state_dir: Path, *, create_defaults: bool = True) -> LocalMemory:
    """Open every store under ``state_dir``; with ``create_defaults`` the default core blocks exist after.

    Each store opens on its own: one that fails (a damaged file, a server down) is left as a
    :class:`StoreDown` named in ``LocalMemory.down`` and the others serve. Only an embedder that
    cannot be built fails the whole call.
    """
    embedder = await _embedder(cfg)
    mem = LocalMemory(_all_down("not opened yet"), embedder, cfg, state_dir, create_defaults)
    try:
        for name in StoreName:
            await mem.reopen(name)
    except BaseException:
        await mem.close()
        raise
    return mem


def make_extractor(cfg: ExtractConfig) -> ChatExtractor | None:
    """The LLM extractor, or None when no endpoint is configured (extraction off)."""
    if not cfg.url:
        return None
    return ChatExtractor(
        cfg.url, cfg.model, api_key=read_optional_secret(cfg.api_key_file, "memory.extract.api_key_file"),
        timeout_s=cfg.timeout_s, max_chars=cfg.max_chars,
    )


async def client_stack(bus: Bus, cfg: MemoryConfig) -> MemoryStack:
    """The memory of the cluster, over the bus (raises MemoryUnavailableError if no memory node answers)."""
    client = await MemoryClient(bus, timeout=cfg.service.request_timeout_s).open()
    return client.stack()


class MemoryComponent(Lifecycle):
    """The memory node's component: owns the stores and serves them on the bus.

    ``start()`` returns at once and the stores open in the background (loading an embedding model
    can take seconds), so the node is ready without waiting for memory; until the service is up,
    clients get MemoryUnavailableError. Each store opens on its own: one that fails (a damaged file,
    a Letta or Qdrant server down) is reported in ``status()`` (state ``degraded``), its calls answer
    with the reason, the others serve, and it is retried with backoff. Only an embedder that cannot
    be built or cannot embed (:func:`check_embedder`) keeps the whole service down (retried with
    backoff too).
    """

    name = "memory"
    opens_in_background = True  # RUNNING once serving, RETRYING (with the error) while it cannot open

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

    async def _start(self) -> None:
        if not self.background:
            self.background.spawn(self._run(), "open")

    async def wait_serving(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._serving.wait(), timeout)

    async def _run(self) -> None:
        await self._open_loop()
        await self._reopen_loop()

    async def _open_loop(self) -> None:
        delay = 1.0
        while True:
            self.attempts += 1
            try:
                await self._open()
                self.error = None
                self._serving.set()
                self._report_down()
                logger.info("memory: serving {} on hydra.memory.*", self.state_dir / "memory")
                return
            except Exception as e:  # anything: report it, keep the node up, try again
                self.error = str(e) if isinstance(e, HydraError) else f"{type(e).__name__}: {e}"
                self.set_state(ComponentState.RETRYING, self.error)
                logger.error("memory: cannot open the stores (attempt {}): {}; retrying in {:.0f}s",
                             self.attempts, self.error, delay)
                await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def _reopen_loop(self) -> None:
        """Retry the stores that are down, with backoff, until all are open."""
        delay = 1.0
        while self.local is not None and self.local.down:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
            for name in list(self.local.down):  # swapped into the served stack in place: the service sees it
                if await self.local.reopen(name) and name is StoreName.ARCHIVAL:
                    await self._start_optimizer()
            self._report_down()

    def _report_down(self) -> None:
        down = sorted(self.local.down) if self.local is not None else []
        self.set_state(ComponentState.RUNNING, f"stores down: {', '.join(down)}" if down else None)

    async def _start_optimizer(self) -> None:
        """The daemon owns index optimisation: periodic, and kicked by imports, reindexes and bulk adds."""
        assert self.local is not None
        if self.optimizer is not None:
            await self.optimizer.stop()
            self.optimizer = None
        if StoreName.ARCHIVAL in self.local.down:
            return
        self.optimizer = BackgroundOptimizer(
            self.local.stack.archival, self.cfg.service.optimize_interval_s, self.cfg.service.optimize_after_writes,
            quiet_s=self.cfg.service.optimize_quiet_s, max_quiet_s=max(1800.0, self.cfg.service.optimize_quiet_s),
        )
        await self.optimizer.start()
        # once at start too, not `optimize_interval_s` later: passages written while no daemon served
        # (a restore, an offline `hydra memory` write) sit in unindexed segments until then, and a dense
        # search over 100k of them is brute force (41 ms against 1.7 ms indexed, bench/results/
        # memory_context_profile.json). Safe at start since the run is a child process that the
        # owner's reads and writes end at once (memory-stores.md, "Optimisation"); on a store already
        # indexed it takes well under a second
        self.optimizer.kick()
        if self.service is not None:
            self.service.optimizer = self.optimizer

    async def _open(self) -> None:
        self.local = await open_local(self.cfg, self.state_dir)
        await check_embedder(self.local.embedder)
        await self._start_optimizer()
        self.service = MemoryService(
            self.bus, self.local.stack, self.node_id, self.local.embedder, optimizer=self.optimizer,
            down=self.local.down, requests_path=self.state_dir / "memory" / "requests.jsonl",
        )
        await self.service.start()

    async def _close(self) -> None:
        service, self.service = self.service, None
        if service is not None:
            await service.stop()
        optimizer, self.optimizer = self.optimizer, None
        if optimizer is not None:
            await optimizer.stop()
        local, self.local = self.local, None
        if local is not None:
            await local.close()

    async def _stop(self) -> None:
        await self.background.close()
        self._serving.clear()
        await self._close()

    def _details(self) -> dict[str, Any]:
        down = self.local.down if self.local is not None else {}
        if self._serving.is_set():
            state = "degraded" if down else "serving"
        else:
            state = "error" if self.error else "opening"
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
        if self.local is not None and self._serving.is_set():
            out["stores"] = store_states(down)
            stored, configured = self.local.stack.archival.embedding_model, self.local.embedder.model
            out["embedding_model"] = stored
            out["embedder_model"] = configured
            if stored and stored != configured:  # e.g. a store built by the torch MiniLM, before the ONNX default
                out["warning"] = (f"the archival store holds vectors from {stored!r}, the embedder is {configured!r}: "
                                  "run `hydra memory reindex`")
            out["optimizer_runs"] = self.optimizer.runs if self.optimizer else 0
            if self.optimizer is not None:
                out["optimisation"] = self.optimizer.summary()
        return out


QUERY_LIMIT = 20_000
"""Characters of a memory search or context query over the API: far above a question, far below a bus message."""


class ContextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=QUERY_LIMIT, description="the request the memory is for")
    budget: int | None = Field(default=None, ge=50, le=1_000_000, description="token budget (default: config)")


class RememberRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    source: str = "conversation"
    tags: list[str] = Field(default_factory=list)
    session: str | None = None
    extract: bool = Field(default=True, description="also extract entities/relations when a model is configured")
    role: Role | None = Field(default=None, description="a chat turn's speaker: user, assistant or system")
    at: AwareDatetime | None = Field(default=None, description="when it was said (RFC 3339 with offset); default now")


def memory_link(bus: Bus, cfg: MemoryConfig) -> MemoryLink:
    """The long-lived bus client of a component that calls memory per request (one handshake, not one each)."""
    return MemoryLink(bus, timeout=cfg.service.request_timeout_s)


def memory_router(cfg: MemoryConfig, link: MemoryLink, auth: BearerToken | None, owner: str) -> APIRouter:
    """``/v1/memory/*`` on every node, served through the bus client (so it works on any node)."""
    deps = [Depends(auth)] if auth is not None else []
    router = APIRouter(prefix="/v1/memory", tags=["memory"], dependencies=deps)
    extractor = make_extractor(cfg.extract)
    stack = link.get

    @router.post("/context")
    async def context(req: ContextRequest) -> dict[str, Any]:
        """What memory would go into the prompt for ``query``, with provenance and reasons."""
        built = await ContextBuilder(await stack(), cfg.context).build(req.query, budget=req.budget)
        return {**built.model_dump(mode="json"), "text": built.render()}

    @router.post("/remember")
    async def remember(req: RememberRequest) -> dict[str, Any]:
        """Store a passage (and, with a model configured, the facts it states)."""
        writer = MemoryWriter(await stack(), extractor, owner=owner)
        done = await writer.remember(
            req.text, source=req.source, tags=req.tags, session=req.session, extract=req.extract,
            role=req.role, at=req.at,
        )
        return done.model_dump(mode="json")

    @router.get("/search")
    async def search(
        q: str = Query(min_length=1, max_length=QUERY_LIMIT),
        limit: int = Query(default=10, ge=1, le=100),
        asked_at: AwareDatetime | None = None,  # what relative dates in q ("last week") are read against
    ) -> list[dict[str, Any]]:
        hits = await (await stack()).archival.search(q, limit=limit, asked_at=asked_at)
        return [h.model_dump(mode="json") for h in hits]

    return router


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation: str = Field(min_length=1, max_length=128,
                              description="the conversation id (the x-hydra-conversation response header)")
    rating: Rating = Field(description="up or down")
    response_id: str | None = Field(default=None, max_length=128, description="the answer's id (chatcmpl-...)")
    comment: str | None = Field(default=None, max_length=2000)


def feedback_router(link: MemoryLink, auth: BearerToken | None) -> APIRouter:
    """``POST /v1/feedback``: thumbs up/down on an answer, kept as a learning tied to its conversation."""
    deps = [Depends(auth)] if auth is not None else []
    router = APIRouter(prefix="/v1", tags=["memory"], dependencies=deps)

    @router.post("/feedback")
    async def feedback(req: FeedbackRequest) -> dict[str, Any]:
        stack = await link.get()
        learning = await record_feedback(stack.learnings, conversation=req.conversation, rating=req.rating,
                                         response_id=req.response_id, comment=req.comment)
        return learning.model_dump(mode="json")

    return router


class MemoryApi(Registers):
    """``/v1/memory/*`` and ``POST /v1/feedback`` on every node (not only the memory node), for the wiring."""

    def __init__(self, cfg: MemoryConfig, bus: Bus, auth: BearerToken | None, owner: str) -> None:
        self.cfg, self.bus, self.auth, self.owner = cfg, bus, auth, owner
        self.link = memory_link(bus, cfg)  # one client for every request of these routes

    def routes(self) -> Sequence[APIRouter]:
        return [memory_router(self.cfg, self.link, self.auth, self.owner),
                feedback_router(self.link, self.auth)]  # thumbs up/down as a learning
