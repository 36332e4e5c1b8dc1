"""Embedded Qdrant (``qdrant-edge-py``): the default archival engine, in-process, on disk.

Layout under the store directory::

    CURRENT            the name of the live generation directory (replaced atomically)
    gen-0001/meta.json embedding model + dimension of that generation
    gen-0001/shard/    the EdgeShard (segments + WAL)
    gen-0001/COMPLETE  written once the generation is fully built and flushed, before ``CURRENT``
                       may name it

A reindex builds ``gen-0002`` beside the live one and flips ``CURRENT``; a crash before the flip
leaves the old generation live.

Start-up never deletes a generation it cannot prove superseded. Only once ``CURRENT`` names a
generation that opens are the others removed: while ``CURRENT`` names generation L every write goes
to L, so an older one was replaced by L and a newer one is an unfinished (or unflipped) copy of L.
If ``CURRENT`` is missing, empty or names no generation, the newest ``COMPLETE`` generation is
recovered (``CURRENT`` rewritten, nothing removed); with none complete, opening is refused with one
line naming the file and nothing is touched. A store without any generation is new and empty.

Index optimisation (building HNSW, merging segments) is ``EdgeShard.optimize()``; it blocks, so the
store exposes it as ``optimize()`` for the daemon to run in the background (see
:class:`memory.archival.maintenance.BackgroundOptimizer`), never on the query path. The binding
keeps the GIL for the whole run, so it runs in a child process (:mod:`memory.archival.optimize_child`)
on the flushed and closed shard. The owner's calls win over that housekeeping: any read or write
(search, get, count, export, add) or a ``close`` that arrives while the child runs ends it (SIGTERM,
its ``temp_segments/`` cleared, the shard reopened) and proceeds at once, instead of waiting for the
whole run (17-26 s at 20 000 passages, minutes at 100 000); unindexed segments are searched brute
force meanwhile. ``optimize(quiet_s)`` starts only when no call came for ``quiet_s`` seconds, so the
daemon's optimiser retries an interrupted run only once the store is quiet.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import qdrant_edge as qe
from loguru import logger

from memory.archival.engine import (
    DENSE,
    INDEXED_DATETIMES,
    INDEXED_KEYWORDS,
    SPARSE,
    Found,
    PointData,
    StoreMeta,
    TimeField,
)
from memory.core.atomic import atomic_write
from memory.diskspace import require_free
from memory.errors import MemoryBackendError
from memory.protocols import OptimiseOutcome, SearchFilters
from memory.store_down import restore_hint

COMPLETE = "COMPLETE"
_GEN_NAME = re.compile(r"gen-\d{4,}")


def _atomic_write(path: Path, text: str) -> None:
    atomic_write(path, text.encode())


def edge_filter(
    filters: SearchFilters | None, canonical_only: bool, time_field: TimeField = "created_at"
) -> qe.Filter | None:
    must: list[Any] = []
    if canonical_only:
        must.append(qe.FieldCondition("dup", match=qe.MatchValue("canonical")))
    if filters is not None:
        must.extend(qe.FieldCondition("tags", match=qe.MatchValue(t)) for t in filters.tags)
        if filters.source is not None:
            must.append(qe.FieldCondition("source", match=qe.MatchValue(filters.source)))
        if filters.session is not None:
            must.append(qe.FieldCondition("session", match=qe.MatchValue(filters.session)))
        if filters.role is not None:
            must.append(qe.FieldCondition("role", match=qe.MatchValue(str(filters.role))))
        if filters.since is not None or filters.until is not None:
            must.append(
                qe.FieldCondition(
                    time_field,
                    range=qe.RangeDateTime(
                        gte=filters.since.isoformat() if filters.since else None,
                        lt=filters.until.isoformat() if filters.until else None,
                    ),
                )
            )
    return qe.Filter(must=must) if must else None


def _found(p: Any, with_vectors: bool) -> Found:
    dense = sparse = None
    if with_vectors and isinstance(p.vector, dict):
        d = p.vector.get(DENSE)
        dense = list(d) if d is not None else None
        s = p.vector.get(SPARSE)
        sparse = (list(s.indices), list(s.values)) if s is not None else None
    return Found(str(p.id), float(getattr(p, "score", 0.0) or 0.0), dict(p.payload or {}), dense, sparse)


def _load_generation(gen: Path) -> tuple[StoreMeta, qe.EdgeShard]:
    meta_file = gen / "meta.json"
    try:
        raw = json.loads(meta_file.read_bytes())
        meta = StoreMeta(raw["embedding_model"], int(raw["dim"]), int(raw["generation"]))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise MemoryBackendError(
            f"archival store: {meta_file} is unreadable ({err}); {restore_hint(meta_file)}"
        ) from err
    try:
        return meta, qe.EdgeShard.load(str(gen / "shard"))
    except Exception as err:  # the binding raises plain Exception subclasses
        raise MemoryBackendError(
            f"archival store: {gen / 'shard'} cannot be opened ({err}); {restore_hint(gen / 'shard')}"
        ) from err


class EdgeEngine:
    """An EdgeShard per generation; thread-safe for concurrent reads (the shard locks internally).

    qdrant-edge writes through memory maps (vector chunks and WAL segments of 32 MiB, index pages),
    so a full filesystem is a SIGBUS that kills the process, at a write or already when a shard is
    loaded (recovery touches its chunks), not an error. Every operation that can grow those files
    (open, create, upsert, optimise) first checks that the filesystem keeps ``min_free_bytes`` and
    otherwise raises :class:`MemoryDiskSpaceError`: the store is read-only (or, at open, down and
    retried) while the rest of the node runs.
    """

    def __init__(self, root: Path, min_free_bytes: int = 0) -> None:
        self._root = root
        self._min_free = min_free_bytes
        self._root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)  # notified when an optimising child is done
        self._child: subprocess.Popen[bytes] | None = None  # the optimising child, while the shard is closed
        self._optimising = False  # from draining the users until the shard is open again
        self._stop = False  # stop_optimising() was called during this optimisation
        self._users = 0  # calls using the shard right now; the shard is closed for a child only at 0
        self._last_use = time.monotonic()  # when a read or write last began or ended (for optimize's quiet_s)
        self.children_started = 0  # optimising children started (a retry loop under traffic would show here)
        self._live: Path | None = None  # the live generation's directory
        self._shard: qe.EdgeShard | None = None
        self._next: tuple[Path, qe.EdgeShard, StoreMeta] | None = None
        self.meta: StoreMeta | None = None
        self._open_current()

    # ------------------------------------------------------------------ generations

    def _open_current(self) -> None:
        current = self._root / "CURRENT"
        try:
            live = current.read_text().strip() if current.exists() else ""
        except (OSError, UnicodeDecodeError) as err:
            raise MemoryBackendError(f"archival store: cannot read {current}: {err}") from err
        gens = sorted(d.name for d in self._root.glob("gen-*") if d.is_dir() and _GEN_NAME.fullmatch(d.name))
        recovered = not _GEN_NAME.fullmatch(live) or live not in gens
        if recovered:
            named, live = live, self._recover(current, live, gens)
            if not live:
                return  # a new store: no generation yet
        gen = self._root / live
        self._check_space("open")
        self.meta, self._shard = _load_generation(gen)
        self._live = gen
        if recovered:
            logger.warning("archival store: {} named {!r}; recovered the newest complete generation {}",
                           current, named, live)
            _atomic_write(current, live)
            return  # removes nothing: the next open, with CURRENT valid again, tidies up
        if not (gen / COMPLETE).exists():  # a store written before the marker existed: live means complete
            _atomic_write(gen / COMPLETE, "")
        for name in gens:  # provably superseded (older) or an unfinished copy of the live one (newer)
            if name != live:
                shutil.rmtree(self._root / name, ignore_errors=True)

    def _recover(self, current: Path, named: str, gens: list[str]) -> str:
        """``CURRENT`` names no generation: the newest complete one, or refuse (touching nothing)."""
        if not gens:
            if named:
                raise MemoryBackendError(
                    f"archival store: {current} names {named!r} but no generation exists in {self._root}; "
                    "restore the directory from a backup, or remove CURRENT to start an empty store"
                )
            return ""
        complete = [g for g in gens if (self._root / g / COMPLETE).exists()]
        if not complete and len(gens) == 1:
            complete = gens  # the only generation there is (from before the marker existed)
        if not complete:
            raise MemoryBackendError(
                f"archival store: {current} is {'missing' if not current.exists() else repr(named)} and none of "
                f"{', '.join(gens)} is marked complete; write the name of the right generation into {current} "
                "(or restore from a backup)"
            )
        return max(complete, key=lambda g: int(g.split("-", 1)[1]))
    def _mark_complete(self, gen: Path, shard: qe.EdgeShard) -> None:
        shard.flush()
        _atomic_write(gen / COMPLETE, "")

    def _check_space(self, what: str) -> None:
        require_free(self._root, self._min_free, f"archival store: {what}", "memory.archival.min_free_mb")

    def _new_shard(self, meta: StoreMeta) -> tuple[Path, qe.EdgeShard]:
        self._check_space("creating a generation")
        gen = self._root / f"gen-{meta.generation:04d}"
        shutil.rmtree(gen, ignore_errors=True)
        gen.mkdir(parents=True)
        cfg = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=meta.dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        try:
            shard = qe.EdgeShard.create(str(gen / "shard"), cfg)
            for key in INDEXED_KEYWORDS:
                shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
            for key in INDEXED_DATETIMES:
                shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Datetime))
        except Exception as err:  # the binding raises plain Exception subclasses
            raise MemoryBackendError(f"archival store {gen}: cannot create the shard: {err}") from err
        _atomic_write(
            gen / "meta.json",
            json.dumps({"embedding_model": meta.embedding_model, "dim": meta.dim, "generation": meta.generation}),
        )
        return gen, shard

    def create(self, meta: StoreMeta) -> None:
        with self._lock:
            gen, shard = self._new_shard(meta)
            self._mark_complete(gen, shard)
            _atomic_write(self._root / "CURRENT", gen.name)
            self._shard, self.meta, self._live = shard, meta, gen

    def begin_generation(self, meta: StoreMeta) -> None:
        with self._lock:
            self.abort_generation()
            gen, shard = self._new_shard(meta)
            self._next = (gen, shard, meta)

    def upsert_next(self, points: list[PointData]) -> None:
        assert self._next is not None
        self._check_space("reindex write")
        self._next[1].update(qe.UpdateOperation.upsert_points([self._point(p) for p in points]))

    def commit_generation(self) -> None:
        with self._lock:
            assert self._next is not None
            self.stop_optimising()  # the old generation goes: its optimisation is moot
            gen, shard, meta = self._next
            self._mark_complete(gen, shard)
            _atomic_write(self._root / "CURRENT", gen.name)
            old, self._shard, self.meta, self._next, self._live = self._shard, shard, meta, None, gen
            if old is not None:
                old.close()
            for d in self._root.glob("gen-*"):
                if d != gen:
                    shutil.rmtree(d, ignore_errors=True)

    def abort_generation(self) -> None:
        with self._lock:
            if self._next is not None:
                gen, shard, _ = self._next
                self._next = None
                shard.close()
                shutil.rmtree(gen, ignore_errors=True)

    # ------------------------------------------------------------------ data

    @contextlib.contextmanager
    def _using(self) -> Iterator[qe.EdgeShard]:
        """The live shard, kept open for the block (an optimisation closes it only when no call uses it).

        Every read and write comes through here, and the owner's calls win over housekeeping: one that
        arrives while an optimisation has the shard ends it and goes on once the shard is open again
        (a fraction of a second) instead of waiting for the whole run. Writes do not wait either: the
        shard is closed while the child runs, so a write could only wait, and nothing tells how near
        the end a run is; every acknowledged write was flushed before the child started.
        """
        with self._lock:
            self._last_use = time.monotonic()
            self._end_optimisation("a read or write came")
            if self._shard is None:
                raise MemoryBackendError("archival store: not created yet")
            shard = self._shard
            self._users += 1
        try:
            yield shard
        finally:
            with self._lock:
                self._users -= 1
                self._last_use = time.monotonic()
                self._idle.notify_all()

    def _wait_idle(self) -> None:
        """With the lock held: wait until no optimisation has the shard (bounded by its run)."""
        while self._optimising:
            self._idle.wait()

    @staticmethod
    def _point(p: PointData) -> qe.Point:
        return qe.Point(uuid.UUID(p.id), {DENSE: p.dense, SPARSE: qe.SparseVector(p.sparse[0], p.sparse[1])}, p.payload)

    def upsert(self, points: list[PointData]) -> None:
        self._check_space("write")
        try:
            with self._using() as shard:
                shard.update(qe.UpdateOperation.upsert_points([self._point(p) for p in points]))
        except Exception as err:
            raise MemoryBackendError(f"archival store: write failed: {err}") from err

    def query(
        self,
        using: Literal["dense", "bm25"],
        vectors: list[Any],
        limit: int,
        filters: SearchFilters | None,
        canonical_only: bool,
        fields: Sequence[str] | None = None,
        time_field: TimeField = "created_at",
    ) -> list[list[Found]]:
        flt = edge_filter(filters, canonical_only, time_field)
        reqs = []
        for v in vectors:
            vec = qe.SparseVector(v[0], v[1]) if using == SPARSE else v
            reqs.append(
                qe.QueryRequest(
                    limit=limit,
                    query=qe.Query.Nearest(vec, using=using),
                    filter=flt,
                    with_payload=list(fields) if fields is not None else True,
                )
            )
        try:
            with self._using() as shard:
                res = shard.query_batch(qe.QueryBatchRequest(reqs))
        except Exception as err:
            raise MemoryBackendError(f"archival store: query failed: {err}") from err
        return [[_found(p, False) for p in r] for r in res]

    def retrieve(self, ids: list[str], with_vectors: bool) -> list[Found]:
        vec: list[str] | bool = [DENSE] if with_vectors else False
        with self._using() as shard:
            recs = shard.retrieve([uuid.UUID(i) for i in ids], with_payload=True, with_vector=vec)
        return [_found(r, with_vectors) for r in recs]

    def find_hashes(self, hashes: list[str]) -> dict[str, str]:
        if not hashes:
            return {}
        flt = qe.Filter(must=[qe.FieldCondition("text_hash", match=qe.MatchAny(hashes))])
        req = qe.ScrollRequest(limit=len(hashes) * 2, filter=flt, with_payload=["text_hash", "pid"], with_vector=False)
        with self._using() as shard:
            recs, _ = shard.scroll(req)
        return {r.payload["text_hash"]: r.payload["pid"] for r in recs if r.payload is not None}

    def count(self) -> int:
        with self._using() as shard:
            return int(shard.count(qe.CountRequest(exact=True)))

    def info(self) -> qe.ShardInfo:
        """What qdrant-edge reports of the live shard: ``indexed_vectors_count`` counts a point once per
        index built over it (its sparse one always; its dense HNSW once an optimisation has run)."""
        with self._using() as shard:
            return shard.info()

    def scroll(self, offset: str | None, limit: int, with_vectors: bool) -> tuple[list[Found], str | None]:
        req = qe.ScrollRequest(
            offset=uuid.UUID(offset) if offset else None, limit=limit, with_payload=True, with_vector=with_vectors
        )
        with self._using() as shard:  # an export ends an optimisation like every read
            recs, nxt = shard.scroll(req)
        return [_found(r, with_vectors) for r in recs], (str(nxt) if nxt is not None else None)

    def optimize(self, quiet_s: float = 0.0) -> OptimiseOutcome:
        """Optimise the live shard in a child process (see :mod:`memory.archival.optimize_child`).

        With ``quiet_s`` it starts only if no read or write is under way or came in the last ``quiet_s``
        seconds (checked under the lock, so no call slips in between); a call arriving while it runs
        ends it (``YIELDED``)."""
        self._check_space("optimisation")
        with self._lock:
            self._wait_idle()
            if self._shard is None or self._live is None:
                return OptimiseOutcome.COMPLETED
            if quiet_s > 0 and (self._users or time.monotonic() - self._last_use < quiet_s):
                return OptimiseOutcome.DEFERRED
            shard_dir = self._live / "shard"
            self._optimising, self._stop = True, False  # new calls end it from here
            try:
                child = self._hand_over(self._shard, shard_dir)
            except BaseException:
                self._reopen(shard_dir, None)
                raise
            if child is None:
                return OptimiseOutcome.YIELDED
        _, err = child.communicate()  # outside the lock: a call or stop_optimising() may end it meanwhile
        with self._lock:
            self._reopen(shard_dir, child)
            ended_by_us = self._stop
        if child.returncode == 0:
            return OptimiseOutcome.COMPLETED
        if ended_by_us:
            return OptimiseOutcome.YIELDED
        # it failed or died on its own (e.g. SIGBUS on a full disk)
        raise MemoryBackendError(f"archival store: optimisation exited {child.returncode}: "
                                 f"{err.decode(errors='replace')[-500:]}")

    def _hand_over(self, shard: qe.EdgeShard, shard_dir: Path) -> subprocess.Popen[bytes] | None:
        """With the lock held: wait out the calls under way, close the shard, start the child."""
        while self._users and not self._stop:
            self._idle.wait()
        if self._stop:  # a stop came while the calls under way finished: optimise another time
            self._optimising = False
            self._idle.notify_all()
            return None
        shard.flush()
        shard.close()  # every acknowledged write is on disk before the child opens the files
        self._shard = None
        # the child imports what this process imports: a Nix-wrapped program finds its packages through
        # sys.path entries its launcher script added, not through the environment
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.children_started += 1
        self._child = subprocess.Popen(
            [sys.executable, "-m", "memory.archival.optimize_child", str(shard_dir), str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )
        return self._child

    def _reopen(self, shard_dir: Path, child: subprocess.Popen[bytes] | None) -> None:
        """With the lock held: open the shard again after the child (or a failed hand-over)."""
        try:
            if child is not None and child.returncode != 0:  # interrupted or failed: drop its half-built work
                shutil.rmtree(shard_dir / "temp_segments", ignore_errors=True)
            if self._shard is None:
                self.meta, self._shard = _load_generation(shard_dir.parent)
        finally:
            self._child, self._optimising = None, False
            self._idle.notify_all()

    def stop_optimising(self) -> None:
        """End a running optimisation (SIGTERM to the child) and wait until the shard is open again."""
        with self._lock:
            self._end_optimisation("the store is stopping or changing generation")

    def _end_optimisation(self, why: str) -> None:
        """With the lock held: end the optimisation if one runs, and wait until the shard is open again."""
        if self._optimising:
            self._stop = True
            self._idle.notify_all()
        if self._child is not None and self._child.poll() is None:
            logger.info("archival store: ending the index optimisation early ({}; it runs again when quiet)", why)
            self._child.terminate()
        self._wait_idle()

    def close(self) -> None:
        with self._lock:
            self.stop_optimising()
            self.abort_generation()
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None
