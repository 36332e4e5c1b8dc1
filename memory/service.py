"""Memory as a service: the memory node serves its stores on ``hydra.memory.<verb>`` (a NATS micro
service); every other node uses :class:`MemoryClient`, whose parts implement the same Protocols.

Wire format: the request is a JSON object of parameters; a reply is JSON. An error is a micro error
reply (code 400 bad input, 404 not found, 500 backend) whose body is
``{"type": <memory error class>, "message": ...}``, so the client raises the same error class.

Verbs: ``info``; ``core.{list,get,create,append,replace,rewrite,history,import}``;
``archival.{add,search,get,count,reindex,optimize,export,import}``;
``graph.{upsert_entity,resolve,upsert_relation,facts_about,neighbours,facts_valid_at,counts,export,import}``;
``learnings.{add,get,list,search,export,import}``. Export pages shrink to fit the bus's max payload.
``archival.reindex`` re-embeds with the memory node's configured embedder and, when the caller names a
``progress`` subject, publishes ``{"done": n, "total": m}`` there as batches complete.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import nats.errors
from loguru import logger
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError

from hydra_os import __version__
from hydra_os.bus import names
from hydra_os.bus.client import Bus
from memory import errors as merr
from memory.archival.maintenance import BackgroundOptimizer
from memory.protocols import (
    AddResult,
    Block,
    BlockEdit,
    Embedder,
    Entity,
    GraphRecord,
    Learning,
    LearningIn,
    MemoryStack,
    Neighbour,
    Page,
    Passage,
    PassageIn,
    Relation,
    RelationIn,
    SearchFilters,
    SearchHit,
    SearchMode,
)

M = TypeVar("M")
Params = dict[str, Any]
Handler = Callable[[Params], Awaitable[Any]]
LONG_TIMEOUT = 3600.0


def _arg(params: Params, name: str, tp: Any, default: Any = ...) -> Any:
    """Validate one parameter; a bad or missing one is a MemoryInputError naming it."""
    if name not in params:
        if default is ...:
            raise merr.MemoryInputError(f"{name}: required parameter is missing")
        return default
    try:
        return TypeAdapter(tp).validate_python(params[name])
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in (name, *first["loc"]))
        raise merr.MemoryInputError(f"{where}: {first['msg']}") from None


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return value


def _code(err: merr.MemoryLayerError) -> str:
    if isinstance(err, merr.MemoryInputError | merr.EmbeddingModelMismatchError):
        return "400"
    return "404" if isinstance(err, merr.MemoryNotFoundError) else "500"


class MemoryService:
    """Serves a local :class:`MemoryStack` on the bus. ``stop()`` is idempotent."""

    def __init__(
        self,
        bus: Bus,
        stack: MemoryStack,
        node_id: str,
        embedder: Embedder | None = None,
        optimizer: BackgroundOptimizer | None = None,
    ) -> None:
        self.bus = bus
        self.stack = stack
        self.node_id = node_id
        self.embedder = embedder  # the configured embedder, for reindex
        # With an optimiser, index optimisation is the daemon's: `archival.optimize` only schedules it,
        # and imports, reindexes and every `kick_after` added passages kick it. Without one (tests,
        # a bare service) `archival.optimize` runs it in the request.
        self.optimizer = optimizer
        self._service: Service | None = None
        self.handlers = self._handlers()

    def _handlers(self) -> dict[str, Handler]:
        s = self.stack
        core, arch, graph, lrn = s.core, s.archival, s.graph, s.learnings

        async def info(p: Params) -> Any:
            return {
                "node": self.node_id,
                "embedding_model": arch.embedding_model,
                "configured_embedder": self.embedder.model if self.embedder else None,
                "passages": await arch.count(),
                "graph": await graph.counts(),
                "learnings": len(await lrn.list_learnings()),
                "blocks": [b.label for b in await core.list_blocks()],
            }

        async def reindex(p: Params) -> Any:
            embedder = self.embedder
            if embedder is None:
                raise merr.MemoryBackendError("this memory node has no embedder configured to reindex with")
            want = _arg(p, "model", str | None, None)
            if want and want != embedder.model:
                raise merr.MemoryInputError(
                    f"model: the memory node's configured embedder is {embedder.model!r}, not {want!r}; "
                    "change memory.embed on the memory node, restart it, then reindex"
                )
            subject = _arg(p, "progress", str | None, None)
            nc = self.bus.nc

            pending: set[asyncio.Task[None]] = set()

            def progress(done: int, total: int) -> None:
                if subject:
                    task = asyncio.get_running_loop().create_task(
                        nc.publish(subject, json.dumps({"done": done, "total": total}).encode())
                    )
                    pending.add(task)
                    task.add_done_callback(pending.discard)

            done = await arch.reindex(embedder, progress)
            if self.optimizer is not None:
                self.optimizer.kick()
            return {"reindexed": done, "model": embedder.model}

        async def add(p: Params) -> Any:
            results = await arch.add(models(PassageIn, p, "passages"))
            if self.optimizer is not None:
                self.optimizer.note_writes(sum(r.status != "duplicate" for r in results))
            return results

        async def import_passages(p: Params) -> Any:
            await arch.import_passages(models(Passage, p, "passages"))
            if self.optimizer is not None:
                self.optimizer.kick()

        async def optimize(p: Params) -> Any:
            if self.optimizer is None:
                await arch.optimize()
                return {"scheduled": False}
            self.optimizer.kick()
            return {"scheduled": True}

        async def export(fetch: Callable[[str | None, int], Awaitable[Page[Any]]], p: Params) -> Any:
            cursor = _arg(p, "cursor", str | None, None)
            limit = _arg(p, "limit", int, 100)
            if not 1 <= limit <= 1000:
                raise merr.MemoryInputError(f"limit: expected 1..1000, got {limit}")
            budget = max(self.bus.nc.max_payload * 3 // 4, 1024)
            while True:  # shrink the page until its reply fits on the bus
                page = await fetch(cursor, limit)
                body = page.model_dump(mode="json")
                if limit == 1 or len(json.dumps(body)) <= budget:
                    return body
                limit = max(limit // 2, 1)

        def models(tp: type[M], p: Params, name: str) -> list[M]:
            return list(_arg(p, name, list[tp]))  # type: ignore[valid-type]

        h: dict[str, Handler] = {
            "info": info,
            "core.list": lambda p: core.list_blocks(),
            "core.get": lambda p: core.get_block(_arg(p, "label", str)),
            "core.create": lambda p: core.create_block(_arg(p, "block", Block)),
            "core.append": lambda p: core.append(_arg(p, "label", str), _arg(p, "text", str)),
            "core.replace": lambda p: core.replace(_arg(p, "label", str), _arg(p, "old", str), _arg(p, "new", str)),
            "core.rewrite": lambda p: core.rewrite(_arg(p, "label", str), _arg(p, "value", str)),
            "core.history": lambda p: core.history(_arg(p, "label", str)),
            "core.import": lambda p: core.import_block(_arg(p, "block", Block), models(BlockEdit, p, "history")),
            "archival.add": add,
            "archival.search": lambda p: arch.search(
                _arg(p, "query", str),
                limit=_arg(p, "limit", int, 10),
                filters=_arg(p, "filters", SearchFilters | None, None),
                mode=_arg(p, "mode", SearchMode, "hybrid"),
                asked_at=_arg(p, "asked_at", AwareDatetime | None, None),
            ),
            "archival.get": lambda p: arch.get(_arg(p, "id", str)),
            "archival.count": lambda p: arch.count(),
            "archival.reindex": reindex,
            "archival.optimize": optimize,
            "archival.export": lambda p: export(arch.export_page, p),
            "archival.import": import_passages,
            "graph.upsert_entity": lambda p: graph.upsert_entity(_arg(p, "entity", Entity)),
            "graph.resolve": lambda p: graph.resolve(_arg(p, "name", str)),
            "graph.upsert_relation": lambda p: graph.upsert_relation(_arg(p, "relation", RelationIn)),
            "graph.facts_about": lambda p: graph.facts_about(
                _arg(p, "entity", str), _arg(p, "at", AwareDatetime | None, None)
            ),
            "graph.neighbours": lambda p: graph.neighbours(_arg(p, "entity", str), _arg(p, "depth", int, 2)),
            "graph.facts_valid_at": lambda p: graph.facts_valid_at(_arg(p, "t", AwareDatetime)),
            "graph.counts": lambda p: graph.counts(),
            "graph.export": lambda p: export(graph.export_page, p),
            "graph.import": lambda p: graph.import_records(models(GraphRecord, p, "records")),
            "learnings.add": lambda p: lrn.add(_arg(p, "entry", LearningIn)),
            "learnings.get": lambda p: lrn.get(_arg(p, "id", str)),
            "learnings.list": lambda p: lrn.list_learnings(
                since=_arg(p, "since", AwareDatetime | None, None), limit=_arg(p, "limit", int | None, None)
            ),
            "learnings.search": lambda p: lrn.search(_arg(p, "query", str), _arg(p, "limit", int, 5)),
            "learnings.export": lambda p: export(lrn.export_page, p),
            "learnings.import": lambda p: lrn.import_learnings(models(Learning, p, "entries")),
        }
        return h

    async def start(self) -> None:
        self._service = await add_service(
            self.bus.nc,
            name=names.MEMORY_SERVICE_NAME,
            version=__version__,
            description="Hydra memory: core blocks, archival passages, knowledge graph, learnings",
            metadata={"node": self.node_id},
        )
        group = self._service.add_group(name=names.MEMORY_PREFIX)
        for verb, handler in self.handlers.items():
            await group.add_endpoint(name=verb.replace(".", "_"), subject=verb, handler=self._wrap(verb, handler))

    def _wrap(self, verb: str, handler: Handler) -> Callable[[Request], Awaitable[None]]:
        async def endpoint(req: Request) -> None:
            try:
                try:
                    params = json.loads(req.data) if req.data else {}
                except json.JSONDecodeError as e:
                    raise merr.MemoryInputError(f"request body: not JSON ({e})") from None
                if not isinstance(params, dict):
                    raise merr.MemoryInputError("request body: expected a JSON object of parameters")
                result = _dump(await handler(params))
            except merr.MemoryLayerError as e:
                await req.respond_error(_code(e), str(e), data=json.dumps(merr.error_to_wire(e)).encode())
                return
            except Exception as e:
                logger.exception("memory service {} failed", verb)
                wire = {"type": "MemoryBackendError", "message": f"{verb} failed on the memory node: {e}"}
                await req.respond_error("500", wire["message"], data=json.dumps(wire).encode())
                return
            await req.respond(json.dumps({"result": result}).encode())

        return endpoint

    async def stop(self) -> None:
        service, self._service = self._service, None
        if service is not None:
            try:
                await service.stop()
            except Exception as e:  # the connection may already be gone at shutdown
                logger.debug("stopping memory service: {}", e)

    async def __aenter__(self) -> MemoryService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# ------------------------------------------------------------------------------------------------
# client
# ------------------------------------------------------------------------------------------------


class MemoryClient:
    """Calls the memory service. ``stack()`` gives Protocol implementations over the bus."""

    def __init__(self, bus: Bus, timeout: float = 10.0) -> None:
        self.bus = bus
        self.timeout = timeout
        self.embedding_model = ""

    async def call(self, verb: str, params: Params | None = None, timeout: float | None = None) -> Any:
        subject = names.memory_rpc(verb)
        wait = timeout or self.timeout
        try:
            msg = await self.bus.nc.request(subject, json.dumps(_dump_params(params or {})).encode(), timeout=wait)
        except nats.errors.NoRespondersError:
            raise merr.MemoryUnavailableError(
                f"no memory service answers on {subject}: is a node with the 'memory' role running on this bus?"
            ) from None
        except nats.errors.TimeoutError:
            raise merr.MemoryUnavailableError(f"the memory service did not answer {verb} within {wait:g}s") from None
        headers = msg.headers or {}
        if "Nats-Service-Error-Code" in headers:
            try:
                wire = json.loads(msg.data)
            except ValueError:
                wire = {"type": "MemoryBackendError", "message": headers.get("Nats-Service-Error", "error")}
            raise merr.error_from_wire(wire)
        return json.loads(msg.data)["result"]

    def batches(self, items: Sequence[Any]) -> list[list[Any]]:
        """Split ``items`` so each request stays well under the bus's max payload."""
        budget = max(self.bus.nc.max_payload * 3 // 4, 1024)
        out: list[list[Any]] = [[]]
        size = 0
        for item in items:
            n = len(json.dumps(_dump(item)))
            if n > budget:
                raise merr.MemoryInputError(
                    f"one item is {n} bytes as JSON, over what a bus message carries ({budget}); split it"
                )
            if out[-1] and size + n > budget:
                out.append([])
                size = 0
            out[-1].append(item)
            size += n
        return [b for b in out if b]

    async def open(self) -> MemoryClient:
        info = await self.call("info")
        self.embedding_model = str(info["embedding_model"])
        return self

    def stack(self) -> MemoryStack:
        return MemoryStack(
            core=RemoteCore(self), archival=RemoteArchival(self), graph=RemoteGraph(self),
            learnings=RemoteLearnings(self),
        )


def _dump_params(params: Params) -> Params:
    out: Params = {}
    for k, v in params.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat()
        else:
            out[k] = _dump(v)
    return out


def _as(tp: Any, value: Any) -> Any:
    return TypeAdapter(tp).validate_python(value)


class _Remote:
    def __init__(self, client: MemoryClient) -> None:
        self._c = client

    async def close(self) -> None:
        return None  # the bus belongs to the caller


class RemoteCore(_Remote):
    async def list_blocks(self) -> list[Block]:
        return list(_as(list[Block], await self._c.call("core.list")))

    async def get_block(self, label: str) -> Block:
        return Block.model_validate(await self._c.call("core.get", {"label": label}))

    async def create_block(self, block: Block) -> Block:
        return Block.model_validate(await self._c.call("core.create", {"block": block}))

    async def append(self, label: str, text: str) -> Block:
        return Block.model_validate(await self._c.call("core.append", {"label": label, "text": text}))

    async def replace(self, label: str, old: str, new: str) -> Block:
        return Block.model_validate(await self._c.call("core.replace", {"label": label, "old": old, "new": new}))

    async def rewrite(self, label: str, value: str) -> Block:
        return Block.model_validate(await self._c.call("core.rewrite", {"label": label, "value": value}))

    async def history(self, label: str) -> list[BlockEdit]:
        return list(_as(list[BlockEdit], await self._c.call("core.history", {"label": label})))

    async def import_block(self, block: Block, history: Sequence[BlockEdit]) -> None:
        await self._c.call("core.import", {"block": block, "history": list(history)}, timeout=LONG_TIMEOUT)


class RemoteArchival(_Remote):
    @property
    def embedding_model(self) -> str:
        return self._c.embedding_model

    async def add(self, passages: list[PassageIn]) -> list[AddResult]:
        out: list[AddResult] = []
        for batch in self._c.batches(passages):
            got = await self._c.call("archival.add", {"passages": batch}, timeout=max(self._c.timeout, 60))
            out.extend(_as(list[AddResult], got))
        return out

    async def search(
        self,
        query: str,
        *,
        limit: int = 10,
        filters: SearchFilters | None = None,
        mode: SearchMode = "hybrid",
        asked_at: datetime | None = None,
    ) -> list[SearchHit]:
        params: dict[str, Any] = {"query": query, "limit": limit, "filters": filters, "mode": mode}
        if asked_at is not None:  # only when given, so an older memory node still accepts the request
            params["asked_at"] = asked_at
        got = await self._c.call("archival.search", params)
        return list(_as(list[SearchHit], got))

    async def get(self, passage_id: str) -> Passage:
        return Passage.model_validate(await self._c.call("archival.get", {"id": passage_id}))

    async def count(self) -> int:
        return int(await self._c.call("archival.count"))

    async def reindex(self, embedder: Embedder, progress: Callable[[int, int], None] | None = None) -> int:
        """Reindex on the memory node with its configured embedder, which must be ``embedder``'s model."""
        return await self.reindex_configured(progress, model=embedder.model)

    async def reindex_configured(
        self, progress: Callable[[int, int], None] | None = None, *, model: str | None = None
    ) -> int:
        """Reindex on the memory node with whatever embedder it is configured with."""
        nc = self._c.bus.nc
        inbox = nc.new_inbox()

        async def on_progress(msg: Any) -> None:
            if progress is not None:
                data = json.loads(msg.data)
                progress(int(data["done"]), int(data["total"]))

        sub = await nc.subscribe(inbox, cb=on_progress)
        try:
            got = await self._c.call(
                "archival.reindex", {"model": model, "progress": inbox}, timeout=LONG_TIMEOUT
            )
        finally:
            await sub.unsubscribe()
        self._c.embedding_model = str(got["model"])
        return int(got["reindexed"])

    async def optimize(self) -> None:
        await self._c.call("archival.optimize", timeout=LONG_TIMEOUT)

    async def export_page(self, cursor: str | None, limit: int) -> Page[Passage]:
        got = await self._c.call("archival.export", {"cursor": cursor, "limit": limit}, timeout=60)
        return Page[Passage].model_validate(got)

    async def import_passages(self, passages: list[Passage]) -> None:
        for batch in self._c.batches(passages):
            await self._c.call("archival.import", {"passages": batch}, timeout=LONG_TIMEOUT)


class RemoteGraph(_Remote):
    async def upsert_entity(self, entity: Entity) -> Entity:
        return Entity.model_validate(await self._c.call("graph.upsert_entity", {"entity": entity}))

    async def resolve(self, name: str) -> Entity | None:
        got = await self._c.call("graph.resolve", {"name": name})
        return None if got is None else Entity.model_validate(got)

    async def upsert_relation(self, relation: RelationIn) -> Relation:
        return Relation.model_validate(await self._c.call("graph.upsert_relation", {"relation": relation}))

    async def facts_about(self, entity: str, at: datetime | None = None) -> list[Relation]:
        got = await self._c.call("graph.facts_about", {"entity": entity, "at": at})
        return list(_as(list[Relation], got))

    async def neighbours(self, entity: str, depth: int = 2) -> list[Neighbour]:
        got = await self._c.call("graph.neighbours", {"entity": entity, "depth": depth})
        return list(_as(list[Neighbour], got))

    async def facts_valid_at(self, t: datetime) -> list[Relation]:
        return list(_as(list[Relation], await self._c.call("graph.facts_valid_at", {"t": t})))

    async def counts(self) -> dict[str, int]:
        return dict(_as(dict[str, int], await self._c.call("graph.counts")))

    async def export_page(self, cursor: str | None, limit: int) -> Page[GraphRecord]:
        got = await self._c.call("graph.export", {"cursor": cursor, "limit": limit}, timeout=60)
        return Page[GraphRecord].model_validate(got)

    async def import_records(self, records: list[GraphRecord]) -> None:
        for batch in self._c.batches(records):
            await self._c.call("graph.import", {"records": batch}, timeout=LONG_TIMEOUT)


class RemoteLearnings(_Remote):
    async def add(self, entry: LearningIn) -> Learning:
        return Learning.model_validate(await self._c.call("learnings.add", {"entry": entry}))

    async def get(self, learning_id: str) -> Learning:
        return Learning.model_validate(await self._c.call("learnings.get", {"id": learning_id}))

    async def list_learnings(self, *, since: datetime | None = None, limit: int | None = None) -> list[Learning]:
        return list(_as(list[Learning], await self._c.call("learnings.list", {"since": since, "limit": limit})))

    async def search(self, query: str, limit: int = 5) -> list[Learning]:
        return list(_as(list[Learning], await self._c.call("learnings.search", {"query": query, "limit": limit})))

    async def export_page(self, cursor: str | None, limit: int) -> Page[Learning]:
        got = await self._c.call("learnings.export", {"cursor": cursor, "limit": limit}, timeout=60)
        return Page[Learning].model_validate(got)

    async def import_learnings(self, entries: list[Learning]) -> None:
        for batch in self._c.batches(entries):
            await self._c.call("learnings.import", {"entries": batch}, timeout=LONG_TIMEOUT)
