"""Embedded Ladybug (``ladybug`` on PyPI, a maintained Kùzu fork): the default graph backend.

One database file in the state dir, one connection used from worker threads under a lock (a
Ladybug connection is not safe for concurrent use). Writes run in an explicit transaction;
timestamps are stored as UTC ``TIMESTAMP`` (Ladybug returns them naive; UTC is attached here).
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ladybug as lb

from memory.diskspace import MIB, require_free
from memory.errors import MemoryBackendError
from memory.graph.cypher import Row, dialect
from memory.store_down import restore_hint

_SCHEMA = (
    "CREATE NODE TABLE IF NOT EXISTS Entity(key STRING, name STRING, type STRING, aliases STRING[], "
    "properties STRING, PRIMARY KEY(key))",
    "CREATE REL TABLE IF NOT EXISTS Fact(FROM Entity TO Entity, id STRING, type STRING, properties STRING, "
    "valid_from TIMESTAMP, valid_to TIMESTAMP, source STRING, confidence DOUBLE)",
)


class LadybugBackend:
    name = "ladybug"

    def __init__(self, path: Path, buffer_pool_mb: int = 256, min_free_mb: int = 0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._min_free = min_free_mb * MIB
        self._lock = threading.Lock()
        try:
            self._db = lb.Database(str(path), buffer_pool_size=buffer_pool_mb * 1024 * 1024)
            self._conn = lb.Connection(self._db)
            for stmt in _SCHEMA:
                self._conn.execute(stmt)
        except RuntimeError as err:
            raise MemoryBackendError(f"graph (ladybug {path}): cannot open ({err}); {restore_hint(path)}") from err
        self._open = True

    def _rows(self, result: Any) -> list[Row]:
        cols = result.get_column_names()
        return [dict(zip(cols, row, strict=True)) for row in result.get_all()]

    def read(self, query: str, params: dict[str, Any]) -> list[Row]:
        with self._lock:
            try:
                return self._rows(self._conn.execute(dialect(query, True), params))
            except RuntimeError as err:
                raise MemoryBackendError(f"graph (ladybug): query failed: {err}") from err

    def write(self, statements: list[tuple[str, dict[str, Any]]]) -> None:
        require_free(self._path.parent, self._min_free, f"graph (ladybug {self._path}): write",
                     "memory.graph.min_free_mb")
        with self._lock:
            try:
                self._conn.execute("BEGIN TRANSACTION")
                try:
                    for query, params in statements:
                        self._conn.execute(dialect(query, True), params)
                except BaseException:
                    with contextlib.suppress(RuntimeError):  # a failed statement may have ended it already
                        self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except RuntimeError as err:
                raise MemoryBackendError(f"graph (ladybug): write failed: {err}") from err

    def to_db_time(self, t: datetime) -> Any:
        return t.astimezone(UTC)

    def from_db_time(self, v: Any) -> datetime:
        if not isinstance(v, datetime):
            raise MemoryBackendError(f"graph (ladybug): expected a timestamp, got {v!r}")
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    def close(self) -> None:
        with self._lock:
            if self._open:
                self._open = False
                self._conn.close()
                self._db.close()
