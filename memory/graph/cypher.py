"""The Cypher both graph backends speak, and the seam they implement.

Ladybug (a Kùzu fork) and Neo4j run the same statements below; they differ only in schema DDL,
in how a statement is executed and in how timestamps cross the boundary. A backend is synchronous
and is called from a worker thread by :class:`memory.graph.store.CypherGraphStore`.

Model: ``(:Entity {key, name, type, aliases, properties})`` where ``key`` is the case-folded
canonical name, and ``(:Entity)-[:Fact {id, type, properties, valid_from, valid_to, source,
confidence}]->(:Entity)``. ``properties`` are JSON strings (Kùzu has no free-form maps).

Two markers make the dialects meet: ``TS(x)`` and ``STRLIST(x)`` are typed casts that Ladybug
needs when a batch holds only nulls / empty lists (it cannot infer a type from them) and that
Neo4j does not need; each backend rewrites them with :func:`dialect`.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

Row = dict[str, Any]

MERGE_ENTITIES = (
    "UNWIND $rows AS r MERGE (e:Entity {key: r.key}) "
    "SET e.name = r.name, e.type = r.type, e.aliases = STRLIST(r.aliases), e.properties = r.properties"
)
CREATE_FACTS = (
    "UNWIND $rows AS r MATCH (a:Entity {key: r.s}) MATCH (b:Entity {key: r.o}) "
    "CREATE (a)-[:Fact {id: r.id, type: r.type, properties: r.props, valid_from: TS(r.vf), valid_to: TS(r.vt), "
    "source: r.src, confidence: r.conf}]->(b)"
)
CLOSE_FACTS = (
    "UNWIND $rows AS r MATCH (a:Entity {key: r.s}) WITH a, r "
    "MATCH (a)-[f:Fact]->(:Entity) WHERE f.id = r.id SET f.valid_to = TS(r.vt)"
)
_FACT_COLS = (
    "s.name AS subject, f.id AS id, f.type AS type, o.name AS object, f.properties AS properties, "
    "f.valid_from AS valid_from, f.valid_to AS valid_to, f.source AS source, f.confidence AS confidence"
)
OPEN_FACTS = (
    "UNWIND $pairs AS p MATCH (s:Entity {key: p.s}) WITH s, p MATCH (s)-[f:Fact]->(o:Entity) "
    f"WHERE f.type = p.t AND f.valid_to IS NULL RETURN s.key AS skey, o.key AS okey, {_FACT_COLS}"
)
FACTS_FROM = f"MATCH (s:Entity {{key: $k}})-[f:Fact]->(o:Entity) RETURN {_FACT_COLS}"
FACTS_TO = f"MATCH (s:Entity)-[f:Fact]->(o:Entity {{key: $k}}) RETURN {_FACT_COLS}"
FACTS_AT = (
    "MATCH (s:Entity)-[f:Fact]->(o:Entity) WHERE f.valid_from <= $t AND (f.valid_to IS NULL OR f.valid_to > $t) "
    f"RETURN {_FACT_COLS}"
)
STEP = (
    "MATCH (a:Entity)-[f:Fact]-(b:Entity) "
    "WHERE a.key IN $keys AND f.valid_from <= $now AND (f.valid_to IS NULL OR f.valid_to > $now) "
    "RETURN a.key AS src, f.type AS type, b.key AS dst"
)
ENTITIES_BY_KEY = (
    "UNWIND $keys AS k MATCH (e:Entity {key: k}) "
    "RETURN e.key AS key, e.name AS name, e.type AS type, e.aliases AS aliases, e.properties AS properties"
)
ALL_ENTITIES = (
    "MATCH (e:Entity) RETURN e.key AS key, e.name AS name, e.type AS type, e.aliases AS aliases, "
    "e.properties AS properties"
)
ENTITY_PAGE = (
    "MATCH (e:Entity) WHERE e.key > $after RETURN e.key AS key, e.name AS name, e.type AS type, "
    "e.aliases AS aliases, e.properties AS properties ORDER BY e.key LIMIT $n"
)
FACT_PAGE = f"MATCH (s:Entity)-[f:Fact]->(o:Entity) WHERE f.id > $after RETURN {_FACT_COLS} ORDER BY f.id LIMIT $n"
COUNT_ENTITIES = "MATCH (e:Entity) RETURN count(e) AS n"
COUNT_FACTS = "MATCH ()-[f:Fact]->() RETURN count(f) AS n"


_MARKER = re.compile(r"\b(TS|STRLIST)\(([^()]*)\)")


@lru_cache(maxsize=64)
def dialect(query: str, casts: bool) -> str:
    """``query`` with the cast markers written out (``casts``) or dropped."""
    if not casts:
        return _MARKER.sub(lambda m: m.group(2), query)
    types = {"TS": "TIMESTAMP", "STRLIST": "STRING[]"}
    return _MARKER.sub(lambda m: f"CAST({m.group(2)} AS {types[m.group(1)]})", query)


class CypherBackend(Protocol):
    """A graph database that runs the statements above (synchronously; called from a thread)."""

    name: str

    def read(self, query: str, params: dict[str, Any]) -> list[Row]: ...

    def write(self, statements: list[tuple[str, dict[str, Any]]]) -> None:
        """Run the statements in one transaction (all or nothing)."""
        ...

    def to_db_time(self, t: datetime) -> Any: ...

    def from_db_time(self, v: Any) -> datetime: ...

    def close(self) -> None: ...
