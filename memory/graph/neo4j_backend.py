"""A Neo4j server through the official ``neo4j`` driver.

Same Cypher as Ladybug (see :mod:`memory.graph.cypher`); the schema is a uniqueness constraint on
``Entity.key`` and an index on ``Fact.id``. Writes run in one managed write transaction; times
are Neo4j ``DateTime`` values (the driver maps aware Python datetimes both ways).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import neo4j
from neo4j.exceptions import Neo4jError, ServiceUnavailable

from memory.errors import MemoryBackendError
from memory.graph.cypher import Row, dialect

_SCHEMA = (
    "CREATE CONSTRAINT hydra_entity_key IF NOT EXISTS FOR (e:Entity) REQUIRE e.key IS UNIQUE",
    "CREATE INDEX hydra_fact_id IF NOT EXISTS FOR ()-[f:Fact]-() ON (f.id)",
    "CREATE INDEX hydra_fact_type IF NOT EXISTS FOR ()-[f:Fact]-() ON (f.type)",
)
_ERRORS = (Neo4jError, ServiceUnavailable, OSError)


class Neo4jBackend:
    name = "neo4j"

    def __init__(self, url: str, user: str, password: str, database: str | None = None) -> None:
        self._database = database
        try:
            self._driver = neo4j.GraphDatabase.driver(url, auth=(user, password))
            self._driver.verify_connectivity()
            for stmt in _SCHEMA:
                self._driver.execute_query(stmt, database_=database)
        except _ERRORS as err:
            raise MemoryBackendError(f"graph (neo4j {url}): cannot connect: {err}") from err
        self._open = True

    def read(self, query: str, params: dict[str, Any]) -> list[Row]:
        try:
            records, _, _ = self._driver.execute_query(
                dialect(query, False), params, database_=self._database, routing_=neo4j.RoutingControl.READ
            )
        except _ERRORS as err:
            raise MemoryBackendError(f"graph (neo4j): query failed: {err}") from err
        return [r.data() for r in records]

    def write(self, statements: list[tuple[str, dict[str, Any]]]) -> None:
        def work(tx: neo4j.ManagedTransaction) -> None:
            for query, params in statements:
                tx.run(dialect(query, False), params).consume()

        try:
            with self._driver.session(database=self._database) as session:
                session.execute_write(work)
        except _ERRORS as err:
            raise MemoryBackendError(f"graph (neo4j): write failed: {err}") from err

    def to_db_time(self, t: datetime) -> Any:
        return t.astimezone(UTC)

    def from_db_time(self, v: Any) -> datetime:
        if hasattr(v, "to_native"):
            v = v.to_native()
        if not isinstance(v, datetime):
            raise MemoryBackendError(f"graph (neo4j): expected a datetime, got {v!r}")
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    def close(self) -> None:
        if self._open:
            self._open = False
            self._driver.close()
