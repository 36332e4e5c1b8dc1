"""Learnings: an append-only log of insights (date, context, learning, how to apply) with stable ids.

Stored as JSON lines in ``<state>/memory/learnings.jsonl``; each append is one ``write`` with
``O_APPEND`` then ``fsync``, acknowledged only after that. A crash mid-append can leave at most one
unterminated last line, which was never acknowledged: opening the log truncates it away. Ids are
``L-0001``, ``L-0002``, ... in append order, never reused — what the briefing cites.

Search is BM25 over context, learning, how-to-apply and tags, with the same tokenizer, stopwords,
stemmer and term weighting as archival search (Qdrant's BM25 encoder, :mod:`memory.archival.bm25`),
IDF computed over the log. The index is rebuilt lazily after appends (learnings number in the
hundreds or thousands; a rebuild takes milliseconds). No second BM25 library is needed.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections import Counter
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from memory.archival.bm25 import Bm25Encoder
from memory.core.atomic import fsync_dir
from memory.errors import BackupFormatError, MemoryBackendError, MemoryInputError, MemoryNotFoundError
from memory.protocols import Learning, LearningIn, Page, utcnow
from memory.store_down import restore_hint


def _text(e: Learning) -> str:
    return " ".join([e.context, e.learning, e.apply, *e.tags])


class _Bm25Index:
    """BM25 over a fixed list of texts: score(q, d) = sum over query terms t of idf(t) * w(t, d)."""

    def __init__(self, texts: list[str]) -> None:
        avg_len = max(sum(len(t.split()) for t in texts) / max(len(texts), 1), 1.0)
        self._enc = Bm25Encoder(avg_len=avg_len)
        self._docs = [dict(zip(*self._enc.document(t), strict=True)) for t in texts]
        df: Counter[int] = Counter(term for d in self._docs for term in d)
        n = len(texts)
        self._idf = {t: math.log((n - f + 0.5) / (f + 0.5) + 1.0) for t, f in df.items()}

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        terms = [t for t in self._enc.query(query)[0] if t in self._idf]
        scored = [(i, sum(self._idf[t] * d.get(t, 0.0) for t in terms)) for i, d in enumerate(self._docs)]
        return sorted((x for x in scored if x[1] > 0), key=lambda x: (-x[1], x[0]))[:k]


class LearningsLog:
    """The native :class:`memory.protocols.Learnings` implementation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: list[Learning] = []
        self._lock = asyncio.Lock()
        self._index: _Bm25Index | None = None
        self._indexed = -1
        self._open = False

    async def open(self) -> LearningsLog:
        self._entries = await asyncio.to_thread(self._load)
        self._open = True
        return self

    def _load(self) -> list[Learning]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            data = self.path.read_bytes() if self.path.exists() else b""
        except OSError as e:
            raise MemoryBackendError(f"cannot read learnings log {self.path}: {e.strerror}") from e
        end = data.rfind(b"\n") + 1
        entries = []
        for n, line in enumerate(data[:end].splitlines(), 1):
            try:
                entries.append(Learning.model_validate_json(line))
            except ValidationError as e:  # refused before anything is written: a damaged log stays as it is
                raise MemoryBackendError(
                    f"learnings log {self.path} line {n} is unreadable ({e.errors()[0]['msg']}); "
                    f"{restore_hint(self.path)}"
                ) from e
        if end != len(data):  # an append cut short by a crash: never acknowledged (see _append_lines), drop it
            with self.path.open("r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        return entries

    def _require_open(self) -> None:
        if not self._open:
            raise MemoryBackendError("the learnings log is not open; call open() first")

    def _append_lines(self, lines: list[bytes]) -> None:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(b"".join(lines))
                while view:  # a write can be short (a full disk): finish it, or fail below
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except OSError:
                # never leave a torn line that the next append would glue onto (an unreadable log)
                os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)

    async def _persist(self, entries: list[Learning]) -> None:
        lines = [e.model_dump_json().encode() + b"\n" for e in entries]
        try:
            await asyncio.to_thread(self._append_lines, lines)
        except OSError as e:
            raise MemoryBackendError(f"cannot append to learnings log {self.path}: {e.strerror}") from e
        self._entries.extend(entries)

    async def add(self, entry: LearningIn) -> Learning:
        self._require_open()
        async with self._lock:
            n = len(self._entries) + 1
            stored = Learning(**entry.model_dump(), id=f"L-{n:04d}", date=utcnow())
            await self._persist([stored])
            return stored

    async def get(self, learning_id: str) -> Learning:
        self._require_open()
        for e in self._entries:
            if e.id == learning_id:
                return e
        raise MemoryNotFoundError(
            f"no learning {learning_id!r} (ids look like L-0001; {len(self._entries)} exist)"
        )

    async def list_learnings(
        self, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Learning]:
        self._require_open()
        if limit is not None and limit < 0:
            raise MemoryInputError(f"limit: expected a number >= 0, got {limit}")
        out = [e for e in self._entries if since is None or e.date >= since]
        if limit is None:
            return out
        return out[-limit:] if limit > 0 else []

    async def search(self, query: str, limit: int = 5) -> list[Learning]:
        self._require_open()
        if limit < 1:
            raise MemoryInputError(f"limit: expected a number >= 1, got {limit}")
        entries = list(self._entries)
        if not entries or not query.strip():
            return []
        return await asyncio.to_thread(self._search, entries, query, limit)

    def _search(self, entries: list[Learning], query: str, limit: int) -> list[Learning]:
        if self._index is None or self._indexed != len(entries):
            self._index, self._indexed = _Bm25Index([_text(e) for e in entries]), len(entries)
        return [entries[i] for i, _ in self._index.top(query, limit)]

    async def export_page(self, cursor: str | None, limit: int) -> Page[Learning]:
        self._require_open()
        start = int(cursor) if cursor else 0
        items = self._entries[start:start + limit]
        nxt = start + len(items)
        return Page[Learning](items=items, next_cursor=str(nxt) if nxt < len(self._entries) else None)

    async def import_learnings(self, entries: list[Learning]) -> None:
        """Append entries verbatim; their ids must continue this log's sequence (restore into empty)."""
        self._require_open()
        async with self._lock:
            for i, e in enumerate(entries, len(self._entries) + 1):
                if e.id != f"L-{i:04d}":
                    raise BackupFormatError(
                        f"learning {e.id}: expected id L-{i:04d} to continue the log; import into an empty log"
                    )
            await self._persist(list(entries))

    async def close(self) -> None:
        self._open = False
