"""The request-id table: bounded, aged, persisted and compacted (the bus path is in test_idempotent_writes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from memory.errors import MemoryInputError
from memory.idempotency import Outcome, RecentRequests, request_digest


async def _settle(t: RecentRequests, rid: str, body: bytes, code: str | None = None) -> None:
    first, fut = t.claim(rid, request_digest("core.append", rid.encode()))
    assert first
    t.settle(rid, fut, Outcome(body, code, "m" if code else ""))
    t.save(rid)


async def test_bounded_persisted_compacted_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    t = RecentRequests(size=3, path=path)
    for i in range(10):
        await _settle(t, f"r{i}", f"body{i}".encode())
    assert len(t) == 3
    assert len(path.read_bytes().splitlines()) <= 6  # compacted, never more than twice the bound
    await _settle(t, "failed", b"x", code="500")  # a backend failure is neither kept nor written
    assert "failed" not in path.read_text()

    again = RecentRequests(size=3, path=path)
    assert again.load(asyncio.get_running_loop()) == 3
    first, fut = again.claim("r9", request_digest("core.append", b"r9"))
    assert not first and fut.result().body == b"body9"
    with pytest.raises(MemoryInputError, match="different request"):
        again.claim("r9", request_digest("core.append", b"other"))


async def test_expired_ids_are_not_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    t = RecentRequests(path=path, ttl_s=0.01)
    await _settle(t, "old", b"x")
    await asyncio.sleep(0.05)
    assert RecentRequests(path=path, ttl_s=0.01).load(asyncio.get_running_loop()) == 0
