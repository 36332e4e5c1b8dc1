"""Collecting the parts of one backup into a staging directory, each hashed as it is added.

The order of :data:`STREAMS` is what makes the set consistent without stopping the cluster. Each
stream snapshot is consistent in itself (the server takes it); across streams, a part taken later
can only be newer. So what refers to something is taken before what it refers to:

- the audit heads bucket before the events stream: a recorded head is never ahead of the chain (the
  restore advances it along the chain to the stream's last event, :func:`hydra_os.backup.heads.advance`);
- the events before the task queue, the queue before the task bucket (a task is stored before its
  message is published): every event's task and every queued message's task is in the backup;
- memory after the events, so an event about a memory write finds the write.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.client import Client

from hydra_os.backup.jetstream import snapshot_stream, stream_exists
from hydra_os.backup.manifest import Part, PartKind, sha256_of
from hydra_os.bus import names
from hydra_os.policy.chainhead import AUDIT_BUCKET
from hydra_os.sections.models import STATE_MODELS_FILE

STREAMS: tuple[str, ...] = (
    f"KV_{AUDIT_BUCKET}",
    names.EVENTS_STREAM,
    names.TASKS_STREAM,
    f"KV_{names.TASKS_BUCKET}",
    f"KV_{names.APPROVALS_BUCKET}",
    f"KV_{names.POLICY_BUCKET}",
    f"KV_{names.SCHEDULE_BUCKET}",
)
"""Streams in the order they are snapshotted (see the module docstring). The membership, model and
leader buckets are in-memory and rebuilt by live nodes within seconds: not backed up."""

STATE_FILES: tuple[str, ...] = (
    STATE_MODELS_FILE,
    "nixos/failed-revisions.json",
    "nixos/rollbacks.json",
    "healing/incidents.json",
    "healing/uptime.json",
)
"""Small state-dir files copied as they are (each is replaced atomically by its writer)."""

MEMORY_PART = "memory.jsonl"
POLICY_PART = "config/policy.toml"


def stream_part(stream: str) -> str:
    return f"jetstream/{stream}.snap"


def stream_meta_part(stream: str) -> str:
    return f"jetstream/{stream}.json"


@dataclass
class Staging:
    """A directory the parts are written to before they are packed; knows each part's hash."""

    root: Path
    parts: list[Part] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def path(self, name: str) -> Path:
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return p

    async def add(self, name: str, kind: PartKind, source: str = "") -> Part:
        def digest() -> tuple[str, int]:
            with (self.root / name).open("rb") as f:
                return sha256_of(f)

        sha, size = await asyncio.to_thread(digest)
        part = Part(name=name, kind=kind, sha256=sha, size=size, source=source)
        self.parts.append(part)
        return part


async def add_streams(staging: Staging, nc: Client, *, timeout: float) -> None:
    for stream in STREAMS:
        if not await stream_exists(nc, stream):
            continue  # a bucket nothing has used yet (created on first use)
        snap = await snapshot_stream(nc, stream, staging.path(stream_part(stream)), timeout=timeout)
        await asyncio.to_thread(staging.path(stream_meta_part(stream)).write_bytes, snap.meta_json())
        await staging.add(stream_part(stream), PartKind.STREAM, stream)
        await staging.add(stream_meta_part(stream), PartKind.STREAM_META, stream)
        staging.counts[f"stream:{stream}"] = snap.messages
        staging.order.append(stream)


def _copy_sqlite(src: Path, dst: Path) -> None:
    """SQLite's online backup: a consistent copy even while the scheduler writes to it."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


async def add_files(staging: Staging, state_dir: Path, job_store: str, policy_file: Path | None) -> None:
    for rel in STATE_FILES:
        src = state_dir / rel
        if await asyncio.to_thread(src.is_file):
            await asyncio.to_thread(shutil.copyfile, src, staging.path(f"files/{rel}"))
            await staging.add(f"files/{rel}", PartKind.FILE, rel)
    store = state_dir / job_store
    if await asyncio.to_thread(store.is_file):
        await asyncio.to_thread(_copy_sqlite, store, staging.path(f"files/{job_store}"))
        await staging.add(f"files/{job_store}", PartKind.FILE, job_store)
    if policy_file is not None and await asyncio.to_thread(policy_file.is_file):
        await asyncio.to_thread(shutil.copyfile, policy_file, staging.path(POLICY_PART))
        await staging.add(POLICY_PART, PartKind.CONFIG, str(policy_file))
    staging.order.append("files")
