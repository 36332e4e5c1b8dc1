"""The temporal knowledge graph over any :class:`~memory.graph.cypher.CypherBackend`.

- Entities are unique by case-folded name; aliases resolve to them (an alias index is kept in
  memory, loaded at open and written through, so resolution costs no query).
- Facts carry ``valid_from``/``valid_to``. For a single-valued relation type a new object closes the
  current fact (``valid_to`` = the new ``valid_from``) instead of deleting it; a fact asserted with a
  ``valid_from`` *before* the current one is history and is stored already closed at the current
  fact's start. Re-asserting a current fact changes nothing.
- Writes are planned in Python and sent as a few ``UNWIND`` statements in one transaction, so
  ``upsert_relations`` of thousands of facts is a handful of round trips.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from memory.errors import MemoryInputError, MemoryNotFoundError
from memory.graph import cypher as q
from memory.graph.cypher import CypherBackend, Row
from memory.protocols import Entity, GraphRecord, Neighbour, Page, Relation, RelationIn


def _key(name: str) -> str:
    return name.strip().casefold()


@dataclass
class _FactPlan:
    """What one batch of facts will write: new fact rows, open facts to close, and one result per input."""

    creates: list[Row] = field(default_factory=list)
    closes: list[Row] = field(default_factory=list)
    out: list[Relation] = field(default_factory=list)


class CypherGraphStore:
    """:class:`memory.protocols.GraphStore` on Ladybug or Neo4j; build with :func:`memory.graph.open_graph`."""

    def __init__(self, backend: CypherBackend, single_valued: Iterable[str]) -> None:
        self._db = backend
        self._single = frozenset(single_valued)
        self._entities: dict[str, Entity] = {}
        self._alias: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    async def load(self) -> CypherGraphStore:
        rows = await asyncio.to_thread(self._db.read, q.ALL_ENTITIES, {})
        for r in rows:
            self._remember(r["key"], self._entity(r))
        return self

    # ------------------------------------------------------------------ conversions

    @staticmethod
    def _entity(r: Row) -> Entity:
        return Entity(
            name=r["name"],
            type=r["type"],
            aliases=list(r["aliases"] or []),
            properties=json.loads(r["properties"] or "{}"),
        )

    def _relation(self, r: Row) -> Relation:
        return Relation(
            id=r["id"],
            subject=r["subject"],
            type=r["type"],
            object=r["object"],
            properties=json.loads(r["properties"] or "{}"),
            valid_from=self._db.from_db_time(r["valid_from"]),
            valid_to=self._db.from_db_time(r["valid_to"]) if r["valid_to"] is not None else None,
            source=r["source"],
            confidence=float(r["confidence"]),
        )

    @staticmethod
    def _entity_row(e: Entity) -> Row:
        return {
            "key": _key(e.name),
            "name": e.name,
            "type": e.type,
            "aliases": list(e.aliases),
            "properties": json.dumps(e.properties, sort_keys=True),
        }

    def _remember(self, key: str, e: Entity) -> None:
        self._entities[key] = e
        self._alias[key] = key
        for a in e.aliases:
            self._alias.setdefault(_key(a), key)

    def _key_of(self, name: str) -> str:
        k = self._alias.get(_key(name))
        if k is None:
            raise MemoryNotFoundError(f"entity {name!r}: no entity has this name or alias")
        return k

    # ------------------------------------------------------------------ entities

    async def resolve(self, name: str) -> Entity | None:
        k = self._alias.get(_key(name))
        return self._entities[k] if k is not None else None

    def _merge_entity(self, entity: Entity) -> tuple[str, Entity]:
        """The key and merged entity ``entity`` resolves to (not yet written)."""
        k = self._alias.get(_key(entity.name))
        for a in entity.aliases:
            other = self._alias.get(_key(a))
            if other is not None and k is not None and other != k:
                raise MemoryInputError(
                    f"entity alias {a!r}: already names {self._entities[other].name!r}, not {self._entities[k].name!r}"
                )
            k = k or other
        if k is None:
            name = entity.name.strip()
            fresh = {_key(a): a.strip() for a in reversed(entity.aliases) if _key(a) != _key(name)}
            return _key(name), entity.model_copy(
                update={"name": name, "aliases": sorted(fresh.values(), key=str.casefold)}
            )
        cur = self._entities[k]
        aliases: dict[str, str] = {}  # case-folded -> first spelling seen
        for a in [*cur.aliases, *entity.aliases, entity.name]:
            if _key(a) != k:
                aliases.setdefault(_key(a), a.strip())
        merged = Entity(
            name=cur.name,
            type=entity.type if entity.type != "thing" else cur.type,
            aliases=sorted(aliases.values(), key=str.casefold),
            properties={**cur.properties, **entity.properties},
        )
        return k, merged

    async def upsert_entity(self, entity: Entity) -> Entity:
        async with self._lock:
            k, merged = self._merge_entity(entity)
            await asyncio.to_thread(self._db.write, [(q.MERGE_ENTITIES, {"rows": [self._entity_row(merged)]})])
            self._remember(k, merged)
            return merged

    # ------------------------------------------------------------------ relations

    async def upsert_relation(self, relation: RelationIn) -> Relation:
        return (await self.upsert_relations([relation]))[0]

    async def upsert_relations(self, relations: list[RelationIn]) -> list[Relation]:
        """Assert many facts in order, in one transaction; one current fact per input."""
        async with self._lock:
            return await self._upsert_relations(relations)

    def _endpoint(self, name: str, etype: str | None, pending: dict[str, Entity]) -> str:
        k = self._alias.get(_key(name))
        if k is None:
            k = _key(name)
            if k not in pending:
                pending[k] = Entity(name=name.strip(), type=etype or "thing")
            return k
        cur = pending.get(k) or self._entities[k]
        if etype and cur.type == "thing" and etype != "thing":
            pending[k] = cur.model_copy(update={"type": etype})
        return k

    async def _upsert_relations(self, relations: list[RelationIn]) -> list[Relation]:
        """Plan the batch against the facts open now, then apply the plan in one transaction."""
        pending: dict[str, Entity] = {}
        ends = [
            (self._endpoint(r.subject, r.subject_type, pending), self._endpoint(r.object, r.object_type, pending))
            for r in relations
        ]
        for k, e in pending.items():  # make new names resolvable for the rest of the batch
            self._alias.setdefault(k, k)
            self._entities.setdefault(k, e)
        current = await self._open_facts(ends, relations)
        plan = _FactPlan()
        for (s, o), r in zip(ends, relations, strict=True):
            plan.out.append(self._plan_fact(s, o, r, current.setdefault((s, r.type), []), pending, plan))
        await self._apply(plan, pending)
        return plan.out

    async def _open_facts(
        self, ends: list[tuple[str, str]], relations: list[RelationIn]
    ) -> dict[tuple[str, str], list[tuple[str, Relation]]]:
        """The open facts of each (subject, type) the batch touches, as ``(object key, relation)``."""
        pairs = sorted({(s, r.type) for (s, _), r in zip(ends, relations, strict=True)})
        rows = await asyncio.to_thread(self._db.read, q.OPEN_FACTS, {"pairs": [{"s": s, "t": t} for s, t in pairs]})
        current: dict[tuple[str, str], list[tuple[str, Relation]]] = {}
        for row in rows:
            current.setdefault((row["skey"], row["type"]), []).append((row["okey"], self._relation(row)))
        return current

    def _plan_fact(
        self, s: str, o: str, r: RelationIn, cur: list[tuple[str, Relation]], pending: dict[str, Entity],
        plan: _FactPlan,
    ) -> Relation:
        """One fact of the batch: the open fact it repeats, or a new one (closing what it supersedes).
        ``cur`` (the open facts of its subject and type) is kept current for the rest of the batch."""
        same = [rel for ok, rel in cur if ok == o]
        if same and r.valid_to is None:
            return same[0]
        valid_to = self._supersede(s, r, cur, plan) if r.valid_to is None else r.valid_to
        rel = Relation(
            id=uuid.uuid4().hex,
            subject=(pending.get(s) or self._entities[s]).name,
            type=r.type,
            object=(pending.get(o) or self._entities[o]).name,
            properties=r.properties,
            valid_from=r.valid_from,
            valid_to=valid_to,
            source=r.source,
            confidence=r.confidence,
        )
        plan.creates.append(self._fact_row(s, o, rel))
        if valid_to is None:
            cur.append((o, rel))
        return rel

    def _supersede(self, s: str, r: RelationIn, cur: list[tuple[str, Relation]], plan: _FactPlan) -> datetime | None:
        """A single-valued fact with no end: closes the open ones it replaces, or (an older value than
        the current one) ends itself where the current one starts. Returns its ``valid_to``."""
        single = r.single_valued if r.single_valued is not None else r.type in self._single
        if not single or not cur:
            return None
        later = [rel.valid_from for _, rel in cur if rel.valid_from > r.valid_from]
        if later:
            return min(later)  # an older value: history, closed where the current one starts
        for _, old in cur:
            plan.closes.append({"s": s, "id": old.id, "vt": self._db.to_db_time(r.valid_from)})
        cur.clear()
        return None

    async def _apply(self, plan: _FactPlan, pending: dict[str, Entity]) -> None:
        """Write the planned entities, facts and closes in one transaction; on failure the in-memory
        index forgets the batch's new entities with it."""
        statements: list[tuple[str, dict[str, Any]]] = []
        if pending:
            statements.append((q.MERGE_ENTITIES, {"rows": [self._entity_row(e) for e in pending.values()]}))
        if plan.creates:
            statements.append((q.CREATE_FACTS, {"rows": plan.creates}))
        if plan.closes:  # after the creates: a fact may be created and superseded within one batch
            statements.append((q.CLOSE_FACTS, {"rows": plan.closes}))
        try:
            if statements:
                await asyncio.to_thread(self._db.write, statements)
        except BaseException:
            for k in pending:  # roll the in-memory index back with the transaction
                if self._entities.get(k) is pending[k]:
                    self._entities.pop(k, None)
                    self._alias.pop(k, None)
            raise
        for k, e in pending.items():
            self._remember(k, e)

    def _fact_row(self, s: str, o: str, rel: Relation) -> Row:
        return {
            "s": s,
            "o": o,
            "id": rel.id,
            "type": rel.type,
            "props": json.dumps(rel.properties, sort_keys=True),
            "vf": self._db.to_db_time(rel.valid_from),
            "vt": self._db.to_db_time(rel.valid_to) if rel.valid_to is not None else None,
            "src": rel.source,
            "conf": rel.confidence,
        }

    # ------------------------------------------------------------------ queries

    @staticmethod
    def _check_time(t: datetime, field: str) -> datetime:
        if t.tzinfo is None:
            raise MemoryInputError(f"{field}: expected a timezone-aware time, got {t.isoformat()}")
        return t.astimezone(UTC)

    async def facts_about(self, entity: str, at: datetime | None = None) -> list[Relation]:
        k = self._key_of(entity)
        when = self._check_time(at, "at") if at is not None else None
        rows = await asyncio.to_thread(
            lambda: self._db.read(q.FACTS_FROM, {"k": k}) + self._db.read(q.FACTS_TO, {"k": k})
        )
        rels = list({r["id"]: self._relation(r) for r in rows}.values())
        if when is not None:
            rels = [r for r in rels if r.valid_at(when)]
        return sorted(rels, key=lambda r: (r.valid_from, r.id))

    async def facts_valid_at(self, t: datetime) -> list[Relation]:
        when = self._check_time(t, "t")
        rows = await asyncio.to_thread(self._db.read, q.FACTS_AT, {"t": self._db.to_db_time(when)})
        return sorted((self._relation(r) for r in rows), key=lambda r: (r.valid_from, r.id))

    async def neighbours(self, entity: str, depth: int = 2) -> list[Neighbour]:
        if not 1 <= depth <= 3:
            raise MemoryInputError(f"depth: expected 1, 2 or 3, got {depth}")
        start = self._key_of(entity)
        now = self._db.to_db_time(datetime.now(UTC))
        seen: dict[str, tuple[int, list[str]]] = {start: (0, [])}
        frontier = [start]
        for d in range(1, depth + 1):
            if not frontier:
                break
            rows = await asyncio.to_thread(self._db.read, q.STEP, {"keys": frontier, "now": now})
            nxt: list[str] = []
            for r in sorted(rows, key=lambda r: (r["src"], r["type"], r["dst"])):
                if r["dst"] not in seen:
                    seen[r["dst"]] = (d, [*seen[r["src"]][1], r["type"]])
                    nxt.append(r["dst"])
            frontier = nxt
        out = [
            Neighbour(entity=self._entities[k], distance=dist, via=via)
            for k, (dist, via) in seen.items()
            if k != start and k in self._entities
        ]
        return sorted(out, key=lambda n: (n.distance, n.entity.name.casefold()))

    async def counts(self) -> dict[str, int]:
        def run() -> dict[str, int]:
            e = self._db.read(q.COUNT_ENTITIES, {})
            f = self._db.read(q.COUNT_FACTS, {})
            return {"entities": int(e[0]["n"]), "relations": int(f[0]["n"])}

        return await asyncio.to_thread(run)

    # ------------------------------------------------------------------ export / import

    async def export_page(self, cursor: str | None, limit: int) -> Page[GraphRecord]:
        if limit < 1:
            raise MemoryInputError(f"limit: expected at least 1, got {limit}")
        cursor = cursor or "e:"
        if cursor.startswith("e:"):
            rows = await asyncio.to_thread(self._db.read, q.ENTITY_PAGE, {"after": cursor[2:], "n": limit})
            items = [GraphRecord(entity=self._entity(r)) for r in rows]
            nxt = f"e:{rows[-1]['key']}" if len(rows) == limit else "f:"
            return Page[GraphRecord](items=items, next_cursor=nxt)
        if not cursor.startswith("f:"):
            raise MemoryInputError(f"cursor: expected one returned by export_page, got {cursor!r}")
        rows = await asyncio.to_thread(self._db.read, q.FACT_PAGE, {"after": cursor[2:], "n": limit})
        items = [GraphRecord(relation=self._relation(r)) for r in rows]
        return Page[GraphRecord](items=items, next_cursor=f"f:{rows[-1]['id']}" if len(rows) == limit else None)

    async def import_records(self, records: list[GraphRecord]) -> None:
        async with self._lock:
            ents = [r.entity for r in records if r.entity is not None]
            rels = [r.relation for r in records if r.relation is not None]
            for e in ents:
                self._remember(_key(e.name), e)
            creates = []
            for rel in rels:
                try:
                    s, o = self._key_of(rel.subject), self._key_of(rel.object)
                except MemoryNotFoundError as err:
                    raise MemoryInputError(f"relation {rel.id}: {err}") from err
                creates.append(self._fact_row(s, o, rel))
            statements: list[tuple[str, dict[str, Any]]] = []
            if ents:
                statements.append((q.MERGE_ENTITIES, {"rows": [self._entity_row(e) for e in ents]}))
            if creates:
                statements.append((q.CREATE_FACTS, {"rows": creates}))
            if statements:
                await asyncio.to_thread(self._db.write, statements)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            async with self._lock:
                await asyncio.to_thread(self._db.close)

    async def __aenter__(self) -> CypherGraphStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
