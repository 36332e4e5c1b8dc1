"""Every memory bus verb, defined once: the table both sides are built from.

A :class:`VerbSpec` names a verb (:class:`MemoryVerb`, the subject ``hydra.memory.<verb>``), its
params model (the request body), its result type (the reply's ``result``), the server-side call,
whether it writes (sent with a ``Hydra-Request-Id``, applied once) and how long a client waits at
least. :class:`~memory.service.MemoryService` serves one micro endpoint per entry of :data:`VERBS`;
:class:`~memory.client.MemoryClient` sends each through one generic call. (The shape of nats.py
``micro``: an ``EndpointConfig`` per endpoint and a handler table.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from hydra_os.bus import names
from memory import handlers as h
from memory import verb_models as vm
from memory.handlers import Serving
from memory.protocols import (
    AddResult,
    Block,
    BlockEdit,
    Entity,
    GraphRecord,
    Learning,
    Neighbour,
    Page,
    Passage,
    Relation,
    SearchHit,
)

P = TypeVar("P", bound=vm.Params)
R = TypeVar("R")

LONG_WAIT_S = 3600.0  # imports, reindex, optimise: bounded by the data, not by the bus
EXPORT_WAIT_S = 60.0
ADD_WAIT_S = 60.0  # archival.add embeds every passage of a batch


class MemoryVerb(StrEnum):
    HELLO = "hello"
    INFO = "info"
    CORE_LIST = "core.list"
    CORE_GET = "core.get"
    CORE_CREATE = "core.create"
    CORE_APPEND = "core.append"
    CORE_REPLACE = "core.replace"
    CORE_REWRITE = "core.rewrite"
    CORE_HISTORY = "core.history"
    CORE_IMPORT = "core.import"
    ARCHIVAL_ADD = "archival.add"
    ARCHIVAL_SEARCH = "archival.search"
    ARCHIVAL_GET = "archival.get"
    ARCHIVAL_COUNT = "archival.count"
    ARCHIVAL_REINDEX = "archival.reindex"
    ARCHIVAL_OPTIMIZE = "archival.optimize"
    ARCHIVAL_EXPORT = "archival.export"
    ARCHIVAL_IMPORT = "archival.import"
    GRAPH_UPSERT_ENTITY = "graph.upsert_entity"
    GRAPH_RESOLVE = "graph.resolve"
    GRAPH_UPSERT_RELATION = "graph.upsert_relation"
    GRAPH_FACTS_ABOUT = "graph.facts_about"
    GRAPH_NEIGHBOURS = "graph.neighbours"
    GRAPH_FACTS_VALID_AT = "graph.facts_valid_at"
    GRAPH_COUNTS = "graph.counts"
    GRAPH_EXPORT = "graph.export"
    GRAPH_IMPORT = "graph.import"
    LEARNINGS_ADD = "learnings.add"
    LEARNINGS_GET = "learnings.get"
    LEARNINGS_LIST = "learnings.list"
    LEARNINGS_SEARCH = "learnings.search"
    LEARNINGS_EXPORT = "learnings.export"
    LEARNINGS_IMPORT = "learnings.import"


@dataclass(frozen=True)
class VerbSpec(Generic[P, R]):
    verb: MemoryVerb
    params: type[P]
    result: TypeAdapter[R]
    call: Callable[[Serving, P], Awaitable[R]]
    write: bool = False
    """Changes memory: the client sends it with a request id, the service applies it once."""
    min_wait_s: float = 0.0
    """A client waits at least this long for the reply (more than its default for slow verbs)."""

    @property
    def subject(self) -> str:
        return names.memory_rpc(self.verb)

    @property
    def endpoint(self) -> str:
        """The micro endpoint's name (dots are not allowed there)."""
        return self.verb.replace(".", "_")


_none = TypeAdapter(type(None))
_block = TypeAdapter(Block)
_relations = TypeAdapter(list[Relation])
_learning = TypeAdapter(Learning)
_learnings = TypeAdapter(list[Learning])

V = MemoryVerb
HELLO = VerbSpec(V.HELLO, vm.NoParams, TypeAdapter(vm.Hello), h.hello)
INFO = VerbSpec(V.INFO, vm.NoParams, TypeAdapter(vm.Info), h.info)

CORE_LIST = VerbSpec(V.CORE_LIST, vm.NoParams, TypeAdapter(list[Block]), lambda s, p: s.stack.core.list_blocks())
CORE_GET = VerbSpec(V.CORE_GET, vm.Label, _block, lambda s, p: s.stack.core.get_block(p.label))
CORE_CREATE = VerbSpec(V.CORE_CREATE, vm.CreateBlock, _block, lambda s, p: s.stack.core.create_block(p.block),
                       write=True)
CORE_APPEND = VerbSpec(V.CORE_APPEND, vm.AppendBlock, _block, lambda s, p: s.stack.core.append(p.label, p.text),
                       write=True)
CORE_REPLACE = VerbSpec(V.CORE_REPLACE, vm.ReplaceInBlock, _block,
                        lambda s, p: s.stack.core.replace(p.label, p.old, p.new), write=True)
CORE_REWRITE = VerbSpec(V.CORE_REWRITE, vm.RewriteBlock, _block, lambda s, p: s.stack.core.rewrite(p.label, p.value),
                        write=True)
CORE_HISTORY = VerbSpec(V.CORE_HISTORY, vm.Label, TypeAdapter(list[BlockEdit]),
                        lambda s, p: s.stack.core.history(p.label))
CORE_IMPORT = VerbSpec(V.CORE_IMPORT, vm.ImportBlock, _none,
                       lambda s, p: s.stack.core.import_block(p.block, p.history), write=True, min_wait_s=LONG_WAIT_S)

ARCHIVAL_ADD = VerbSpec(V.ARCHIVAL_ADD, vm.AddPassages, TypeAdapter(list[AddResult]), h.add_passages, write=True,
                        min_wait_s=ADD_WAIT_S)
ARCHIVAL_SEARCH = VerbSpec(V.ARCHIVAL_SEARCH, vm.SearchPassages, TypeAdapter(list[SearchHit]),
                           lambda s, p: s.stack.archival.search(p.query, limit=p.limit, filters=p.filters, mode=p.mode,
                                                                asked_at=p.asked_at))
ARCHIVAL_GET = VerbSpec(V.ARCHIVAL_GET, vm.ById, TypeAdapter(Passage), lambda s, p: s.stack.archival.get(p.id))
ARCHIVAL_COUNT = VerbSpec(V.ARCHIVAL_COUNT, vm.NoParams, TypeAdapter(int), lambda s, p: s.stack.archival.count())
ARCHIVAL_REINDEX = VerbSpec(V.ARCHIVAL_REINDEX, vm.Reindex, TypeAdapter(vm.Reindexed), h.reindex, write=True,
                            min_wait_s=LONG_WAIT_S)
ARCHIVAL_OPTIMIZE = VerbSpec(V.ARCHIVAL_OPTIMIZE, vm.NoParams, TypeAdapter(vm.Optimized), h.optimize,
                             min_wait_s=LONG_WAIT_S)
ARCHIVAL_EXPORT = VerbSpec(V.ARCHIVAL_EXPORT, vm.ExportPage, TypeAdapter(Page[Passage]),
                           lambda s, p: h.export_fitting(s, s.stack.archival.export_page, p), min_wait_s=EXPORT_WAIT_S)
ARCHIVAL_IMPORT = VerbSpec(V.ARCHIVAL_IMPORT, vm.ImportPassages, _none, h.import_passages, write=True,
                           min_wait_s=LONG_WAIT_S)

GRAPH_UPSERT_ENTITY = VerbSpec(V.GRAPH_UPSERT_ENTITY, vm.UpsertEntity, TypeAdapter(Entity),
                               lambda s, p: s.stack.graph.upsert_entity(p.entity), write=True)
GRAPH_RESOLVE = VerbSpec(V.GRAPH_RESOLVE, vm.ByName, TypeAdapter(Entity | None),
                         lambda s, p: s.stack.graph.resolve(p.name))
GRAPH_UPSERT_RELATION = VerbSpec(V.GRAPH_UPSERT_RELATION, vm.UpsertRelation, TypeAdapter(Relation),
                                 lambda s, p: s.stack.graph.upsert_relation(p.relation), write=True)
GRAPH_FACTS_ABOUT = VerbSpec(V.GRAPH_FACTS_ABOUT, vm.FactsAbout, _relations,
                             lambda s, p: s.stack.graph.facts_about(p.entity, p.at))
GRAPH_NEIGHBOURS = VerbSpec(V.GRAPH_NEIGHBOURS, vm.Neighbours, TypeAdapter(list[Neighbour]),
                            lambda s, p: s.stack.graph.neighbours(p.entity, p.depth))
GRAPH_FACTS_VALID_AT = VerbSpec(V.GRAPH_FACTS_VALID_AT, vm.FactsValidAt, _relations,
                                lambda s, p: s.stack.graph.facts_valid_at(p.t))
GRAPH_COUNTS = VerbSpec(V.GRAPH_COUNTS, vm.NoParams, TypeAdapter(dict[str, int]), lambda s, p: s.stack.graph.counts())
GRAPH_EXPORT = VerbSpec(V.GRAPH_EXPORT, vm.ExportPage, TypeAdapter(Page[GraphRecord]),
                        lambda s, p: h.export_fitting(s, s.stack.graph.export_page, p), min_wait_s=EXPORT_WAIT_S)
GRAPH_IMPORT = VerbSpec(V.GRAPH_IMPORT, vm.ImportRecords, _none, lambda s, p: s.stack.graph.import_records(p.records),
                        write=True, min_wait_s=LONG_WAIT_S)

LEARNINGS_ADD = VerbSpec(V.LEARNINGS_ADD, vm.AddLearning, _learning, lambda s, p: s.stack.learnings.add(p.entry),
                         write=True)
LEARNINGS_GET = VerbSpec(V.LEARNINGS_GET, vm.ById, _learning, lambda s, p: s.stack.learnings.get(p.id))
LEARNINGS_LIST = VerbSpec(V.LEARNINGS_LIST, vm.ListLearnings, _learnings,
                          lambda s, p: s.stack.learnings.list_learnings(since=p.since, limit=p.limit))
LEARNINGS_SEARCH = VerbSpec(V.LEARNINGS_SEARCH, vm.SearchLearnings, _learnings,
                            lambda s, p: s.stack.learnings.search(p.query, p.limit))
LEARNINGS_EXPORT = VerbSpec(V.LEARNINGS_EXPORT, vm.ExportPage, TypeAdapter(Page[Learning]),
                            lambda s, p: h.export_fitting(s, s.stack.learnings.export_page, p),
                            min_wait_s=EXPORT_WAIT_S)
LEARNINGS_IMPORT = VerbSpec(V.LEARNINGS_IMPORT, vm.ImportLearnings, _none,
                            lambda s, p: s.stack.learnings.import_learnings(p.entries), write=True,
                            min_wait_s=LONG_WAIT_S)

VERBS: Mapping[MemoryVerb, VerbSpec[Any, Any]] = {
    spec.verb: spec
    for spec in (
        HELLO, INFO,
        CORE_LIST, CORE_GET, CORE_CREATE, CORE_APPEND, CORE_REPLACE, CORE_REWRITE, CORE_HISTORY, CORE_IMPORT,
        ARCHIVAL_ADD, ARCHIVAL_SEARCH, ARCHIVAL_GET, ARCHIVAL_COUNT, ARCHIVAL_REINDEX, ARCHIVAL_OPTIMIZE,
        ARCHIVAL_EXPORT, ARCHIVAL_IMPORT,
        GRAPH_UPSERT_ENTITY, GRAPH_RESOLVE, GRAPH_UPSERT_RELATION, GRAPH_FACTS_ABOUT, GRAPH_NEIGHBOURS,
        GRAPH_FACTS_VALID_AT, GRAPH_COUNTS, GRAPH_EXPORT, GRAPH_IMPORT,
        LEARNINGS_ADD, LEARNINGS_GET, LEARNINGS_LIST, LEARNINGS_SEARCH, LEARNINGS_EXPORT, LEARNINGS_IMPORT,
    )
}
WRITE_VERBS = frozenset(v for v, spec in VERBS.items() if spec.write)
"""Verbs that change memory: the client sends each with a request id, the service applies it once."""
