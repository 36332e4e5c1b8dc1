"""A local durable outbox: messages waiting for the bus, in order, surviving a daemon crash.

An append-only JSON-lines file (each line fsync'd before ``append`` returns) with its own
sequence, and a pointer file holding the last sequence that was delivered. When nothing is
pending the file is emptied; the pointer keeps the sequence going. Without a path the outbox
lives in memory only (tests and tools that construct an event log by hand).

Blocking file I/O: call the methods through ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from loguru import logger


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    payload: str
    """The exact bytes (as text) to send; retries must send the same message."""
    dedup_id: str | None = None


class Outbox:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.pending: list[OutboxEntry] = []
        self._sent = 0

    @property
    def _pointer(self) -> Path | None:
        return None if self.path is None else self.path.with_suffix(".sent")

    def load(self) -> None:
        """Read what a previous run left undelivered (a torn last line, from a crash mid-write, is skipped)."""
        if self.path is None or self._pointer is None:
            return
        try:
            self._sent = int(self._pointer.read_text().strip() or 0)
        except FileNotFoundError:
            self._sent = 0
        except ValueError:
            logger.warning("outbox pointer {} unreadable; resending what the outbox holds", self._pointer)
            self._sent = 0
        self.pending = []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for n, line in enumerate(lines, 1):
            try:
                raw = json.loads(line)
                entry = OutboxEntry(int(raw["seq"]), str(raw["payload"]), raw.get("dedup_id"))
            except (ValueError, KeyError, TypeError):
                logger.warning("outbox {} line {} unreadable (torn by a crash?); skipped", self.path, n)
                continue
            if entry.seq > self._sent:
                self.pending.append(entry)

    def next_seq(self) -> int:
        return (self.pending[-1].seq if self.pending else self._sent) + 1

    def append(self, payload: str, dedup_id: str | None = None) -> OutboxEntry:
        entry = OutboxEntry(self.next_seq(), payload, dedup_id)
        if self.path is not None:
            line = json.dumps({"seq": entry.seq, "payload": entry.payload, "dedup_id": entry.dedup_id})
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        self.pending.append(entry)
        return entry

    def mark_sent(self, seq: int) -> None:
        """The entries up to ``seq`` were delivered."""
        self.pending = [e for e in self.pending if e.seq > seq]
        self._sent = max(self._sent, seq)
        if self._pointer is not None and self.path is not None:
            _write_atomic(self._pointer, f"{self._sent}\n")
            if not self.pending:
                _write_atomic(self.path, "")

    def replace_pending(self, entries: list[OutboxEntry]) -> None:
        """Rewrite what is still to be sent (the event log re-chains it when one entry is dropped)."""
        self.pending = list(entries)
        if self.path is not None:
            text = "".join(
                json.dumps({"seq": e.seq, "payload": e.payload, "dedup_id": e.dedup_id}) + "\n" for e in entries
            )
            _write_atomic(self.path, text)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
