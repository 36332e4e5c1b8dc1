"""The memory client: every node that is not the memory node reaches memory through it, over
``hydra.memory.<verb>`` (:mod:`memory.service` serves it). ``MemoryClient.stack()`` gives the
:mod:`memory.protocols` Protocols over the bus; each of their methods is one :meth:`MemoryClient.request`
of a :class:`~memory.verbs.VerbSpec` from the one verb table.

``open()`` is a handshake, not a report: it asks ``hello`` for the node and its embedding model (an
attribute read on the memory node), and only a memory node from before ``hello`` is asked ``info``.

A component that calls memory on every request (the gateway's memory-aware chat, ``/v1/memory/*``)
keeps one :class:`MemoryLink`: one client, handshaken once, and again only when the memory node stopped
answering (:class:`~memory.errors.MemoryUnavailableError`) or restarted (a reply names another service
instance in ``Hydra-Memory-Instance``), so a request pays no ``hello`` round trip of its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import nats.errors
from nats.aio.msg import Msg
from pydantic import BaseModel

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from memory import errors as merr
from memory import verb_models as vm
from memory import verbs as v
from memory.handlers import payload_budget
from memory.idempotency import REQUEST_ID_HEADER
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
    OptimiseOutcome,
    Page,
    Passage,
    PassageIn,
    Relation,
    RelationIn,
    SearchFilters,
    SearchHit,
    SearchMode,
)
from memory.verbs import WRITE_VERBS, MemoryVerb, VerbSpec

INSTANCE_HEADER = "Hydra-Memory-Instance"  # on every reply: which start of the memory service answered
P = TypeVar("P", bound=vm.Params)
R = TypeVar("R")
T = TypeVar("T")


def _json_default(value: object) -> Any:
    """How :meth:`MemoryClient.call` writes the models and datetimes in a hand-built parameter dict."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _result(msg: Msg) -> Any:
    """A reply's ``result``, or the memory error it carries raised as its own class."""
    headers = msg.headers or {}
    if "Nats-Service-Error-Code" in headers:
        try:
            wire = json.loads(msg.data)
        except ValueError:
            wire = {"type": "MemoryBackendError", "message": headers.get("Nats-Service-Error", "error")}
        raise merr.error_from_wire(wire)
    return json.loads(msg.data)["result"]


class MemoryClient:
    """Calls the memory service. ``stack()`` gives Protocol implementations over the bus."""

    def __init__(self, bus: Bus, timeout: float = 10.0) -> None:
        self.bus = bus
        self.timeout = timeout
        self.embedding_model = ""
        self.instance: str | None = None  # the memory service start the handshake reached
        self.handshaken = False  # False until open(), and again once the node went away or restarted

    async def request(self, spec: VerbSpec[P, R], params: P, timeout: float | None = None) -> R:
        """One verb with typed params and result. A parameter left at None is not sent: the memory node
        reads it as absent (also one from before the parameter existed)."""
        body = {k: val for k, val in params.model_dump(mode="json").items() if val is not None}
        wait = timeout or max(self.timeout, spec.min_wait_s)
        got = await self._send(spec.verb, json.dumps(body).encode(), wait, spec.write)
        return spec.result.validate_python(got)

    async def call(
        self,
        verb: str,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        *,
        request_id: str | None = None,
    ) -> Any:
        """One verb with hand-built params and the raw JSON result (the CLI's ``info``, tests, benches).
        A write carries ``request_id`` (a fresh one when not given): sending it again with the same id is
        applied once. A write that times out raises :class:`MemoryOutcomeUnknownError`."""
        payload = json.dumps(params or {}, default=_json_default).encode()
        return await self._send(verb, payload, timeout or self.timeout, verb in WRITE_VERBS, request_id)

    async def _send(
        self, verb: str, payload: bytes, wait: float, write: bool, request_id: str | None = None
    ) -> Any:
        budget = payload_budget(self.bus)
        if len(payload) > budget:  # refused here, named, instead of the bus's max-payload error (a 500)
            raise merr.MemoryInputError(
                f"{verb}: the request is {len(payload)} bytes as JSON, over what a bus message carries ({budget}); "
                "shorten or split it"
            )
        headers = None
        if write:
            request_id = request_id or uuid.uuid4().hex
            headers = {REQUEST_ID_HEADER: request_id}
        try:
            msg = await self._exchange(verb, payload, wait, headers, request_id if write else None)
        except merr.MemoryUnavailableError:
            self.handshaken = False  # the node may be gone: the next handshake finds out what answers now
            raise
        if msg is None:
            self.handshaken = False
            raise merr.MemoryUnavailableError(
                f"no memory service answers on {names.memory_rpc(verb)}: "
                "is a node with the 'memory' role running on this bus?"
            )
        if (msg.headers or {}).get(INSTANCE_HEADER, self.instance) != self.instance:
            self.handshaken = False  # the memory node restarted (maybe with another embedder): ask again
        return _result(msg)

    async def _exchange(
        self, verb: str, payload: bytes, wait: float, headers: dict[str, str] | None, request_id: str | None
    ) -> Msg | None:
        """The reply, or None when nothing serves the verb (no memory node, or one without the verb)."""
        try:
            return await self.bus.nc.request(names.memory_rpc(verb), payload, timeout=wait, headers=headers)
        except nats.errors.NoRespondersError:
            return None
        except nats.errors.TimeoutError:
            if request_id is not None:
                raise merr.MemoryOutcomeUnknownError(
                    f"the memory service did not answer {verb} within {wait:g}s: the write may or may not have "
                    f"been applied; retrying with the same request id {request_id} is safe (applied at most once)",
                    request_id=request_id,
                ) from None
            raise merr.MemoryUnavailableError(f"the memory service did not answer {verb} within {wait:g}s") from None

    def batches(self, items: Sequence[T]) -> list[list[T]]:
        """Split ``items`` so each request stays well under the bus's max payload."""
        budget = payload_budget(self.bus)
        out: list[list[T]] = [[]]
        size = 0
        for item in items:
            n = len(json.dumps(item, default=_json_default))
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
        """The handshake: which node serves memory and the model its archival vectors come from."""
        msg = await self._exchange(v.HELLO.verb, b"{}", self.timeout, None, None)
        if msg is None:  # a memory node from before `hello` (or none: then asking info says so)
            hello = vm.Hello.model_validate(await self.call(MemoryVerb.INFO))
        else:
            hello = v.HELLO.result.validate_python(_result(msg))
            self.instance = (msg.headers or {}).get(INSTANCE_HEADER)
        self.embedding_model = hello.embedding_model
        self.handshaken = True
        return self

    def stack(self) -> MemoryStack:
        return MemoryStack(
            core=RemoteCore(self), archival=RemoteArchival(self), graph=RemoteGraph(self),
            learnings=RemoteLearnings(self),
        )


class MemoryLink:
    """One long-lived :class:`MemoryClient` for a component that calls memory on every request.

    ``get()`` gives the stack over the bus, handshaking first only when the client has not yet, or the
    memory node stopped answering or restarted since; concurrent requests share one handshake."""

    def __init__(self, bus: Bus, timeout: float = 10.0) -> None:
        self.client = MemoryClient(bus, timeout=timeout)
        self._stack = self.client.stack()
        self._lock = asyncio.Lock()

    async def get(self) -> MemoryStack:
        """The stack (raises MemoryUnavailableError when no memory node answers the handshake)."""
        if not self.client.handshaken:
            async with self._lock:
                if not self.client.handshaken:
                    await self.client.open()
        return self._stack

    def reset(self) -> None:
        """Handshake again before the next request (the caller saw the memory node fail to answer in time)."""
        self.client.handshaken = False


class _Remote:
    def __init__(self, client: MemoryClient) -> None:
        self._client = client
        self._request = client.request

    async def close(self) -> None:
        return None  # the bus belongs to the caller


class RemoteCore(_Remote):
    async def list_blocks(self) -> list[Block]:
        return await self._request(v.CORE_LIST, vm.NoParams())

    async def get_block(self, label: str) -> Block:
        return await self._request(v.CORE_GET, vm.Label(label=label))

    async def create_block(self, block: Block) -> Block:
        return await self._request(v.CORE_CREATE, vm.CreateBlock(block=block))

    async def append(self, label: str, text: str) -> Block:
        return await self._request(v.CORE_APPEND, vm.AppendBlock(label=label, text=text))

    async def replace(self, label: str, old: str, new: str) -> Block:
        return await self._request(v.CORE_REPLACE, vm.ReplaceInBlock(label=label, old=old, new=new))

    async def rewrite(self, label: str, value: str) -> Block:
        return await self._request(v.CORE_REWRITE, vm.RewriteBlock(label=label, value=value))

    async def history(self, label: str) -> list[BlockEdit]:
        return await self._request(v.CORE_HISTORY, vm.Label(label=label))

    async def import_block(self, block: Block, history: Sequence[BlockEdit]) -> None:
        await self._request(v.CORE_IMPORT, vm.ImportBlock(block=block, history=list(history)))


class RemoteArchival(_Remote):
    @property
    def embedding_model(self) -> str:
        return self._client.embedding_model

    async def add(self, passages: list[PassageIn]) -> list[AddResult]:
        out: list[AddResult] = []
        for batch in self._client.batches(passages):
            added: list[AddResult] = await self._request(v.ARCHIVAL_ADD, vm.AddPassages(passages=batch))
            out.extend(added)
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
        params = vm.SearchPassages(query=query, limit=limit, filters=filters, mode=mode, asked_at=asked_at)
        return await self._request(v.ARCHIVAL_SEARCH, params)

    async def get(self, passage_id: str) -> Passage:
        return await self._request(v.ARCHIVAL_GET, vm.ById(id=passage_id))

    async def count(self) -> int:
        return await self._request(v.ARCHIVAL_COUNT, vm.NoParams())

    async def reindex(self, embedder: Embedder, progress: Callable[[int, int], None] | None = None) -> int:
        """Reindex on the memory node with its configured embedder, which must be ``embedder``'s model."""
        return await self.reindex_configured(progress, model=embedder.model)

    async def reindex_configured(
        self, progress: Callable[[int, int], None] | None = None, *, model: str | None = None
    ) -> int:
        """Reindex on the memory node with whatever embedder it is configured with."""
        nc = self._client.bus.nc
        inbox = nc.new_inbox()

        async def on_progress(msg: Msg) -> None:
            if progress is not None:
                data = json.loads(msg.data)
                progress(int(data["done"]), int(data["total"]))

        sub = await nc.subscribe(inbox, cb=on_progress)
        try:
            got = await self._request(v.ARCHIVAL_REINDEX, vm.Reindex(model=model, progress=inbox))
        finally:
            await sub.unsubscribe()
        self._client.embedding_model = got.model
        return got.reindexed

    async def optimize(self, quiet_s: float = 0.0) -> OptimiseOutcome:
        got = await self._request(v.ARCHIVAL_OPTIMIZE, vm.NoParams())
        return OptimiseOutcome.SCHEDULED if got.scheduled else OptimiseOutcome.COMPLETED

    async def export_page(self, cursor: str | None, limit: int) -> Page[Passage]:
        return await self._request(v.ARCHIVAL_EXPORT, vm.ExportPage(cursor=cursor, limit=limit))

    async def import_passages(self, passages: list[Passage]) -> None:
        for batch in self._client.batches(passages):
            await self._request(v.ARCHIVAL_IMPORT, vm.ImportPassages(passages=batch))


class RemoteGraph(_Remote):
    async def upsert_entity(self, entity: Entity) -> Entity:
        return await self._request(v.GRAPH_UPSERT_ENTITY, vm.UpsertEntity(entity=entity))

    async def resolve(self, name: str) -> Entity | None:
        return await self._request(v.GRAPH_RESOLVE, vm.ByName(name=name))

    async def upsert_relation(self, relation: RelationIn) -> Relation:
        return await self._request(v.GRAPH_UPSERT_RELATION, vm.UpsertRelation(relation=relation))

    async def facts_about(self, entity: str, at: datetime | None = None) -> list[Relation]:
        return await self._request(v.GRAPH_FACTS_ABOUT, vm.FactsAbout(entity=entity, at=at))

    async def neighbours(self, entity: str, depth: int = 2) -> list[Neighbour]:
        return await self._request(v.GRAPH_NEIGHBOURS, vm.Neighbours(entity=entity, depth=depth))

    async def facts_valid_at(self, t: datetime) -> list[Relation]:
        return await self._request(v.GRAPH_FACTS_VALID_AT, vm.FactsValidAt(t=t))

    async def counts(self) -> dict[str, int]:
        return await self._request(v.GRAPH_COUNTS, vm.NoParams())

    async def export_page(self, cursor: str | None, limit: int) -> Page[GraphRecord]:
        return await self._request(v.GRAPH_EXPORT, vm.ExportPage(cursor=cursor, limit=limit))

    async def import_records(self, records: list[GraphRecord]) -> None:
        for batch in self._client.batches(records):
            await self._request(v.GRAPH_IMPORT, vm.ImportRecords(records=batch))


class RemoteLearnings(_Remote):
    async def add(self, entry: LearningIn) -> Learning:
        return await self._request(v.LEARNINGS_ADD, vm.AddLearning(entry=entry))

    async def get(self, learning_id: str) -> Learning:
        return await self._request(v.LEARNINGS_GET, vm.ById(id=learning_id))

    async def list_learnings(self, *, since: datetime | None = None, limit: int | None = None) -> list[Learning]:
        return await self._request(v.LEARNINGS_LIST, vm.ListLearnings(since=since, limit=limit))

    async def search(self, query: str, limit: int = 5) -> list[Learning]:
        return await self._request(v.LEARNINGS_SEARCH, vm.SearchLearnings(query=query, limit=limit))

    async def export_page(self, cursor: str | None, limit: int) -> Page[Learning]:
        return await self._request(v.LEARNINGS_EXPORT, vm.ExportPage(cursor=cursor, limit=limit))

    async def import_learnings(self, entries: list[Learning]) -> None:
        for batch in self._client.batches(entries):
            await self._request(v.LEARNINGS_IMPORT, vm.ImportLearnings(entries=batch))
