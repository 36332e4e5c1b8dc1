"""Verifying a backup: every checksum, every part readable, and the audit hash chain recomputed.

The JetStream parts are opaque server snapshots, so the chain is checked the only honest way: the
streams are restored into a scratch ``nats-server`` (the same binary and code path a restore uses)
and the events read back and checked by :func:`hydra_os.policy.audit.verify_chains`, exactly as
``hydra audit verify`` checks a live cluster. The memory export is validated line by line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra_os.backup.archive import unpack
from hydra_os.backup.errors import BackupInvalidError
from hydra_os.backup.jetstream import StreamSnapshot, restore_stream
from hydra_os.backup.manifest import Manifest, PartKind
from hydra_os.backup.parts import MEMORY_PART, stream_meta_part, stream_part
from hydra_os.bus.client import Bus
from hydra_os.bus.config import BusConfig
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.errors import HydraError
from hydra_os.policy.audit import ChainReport, StoredEvent, read_events, stream_facts, verify_chains
from hydra_os.policy.chainhead import ChainHead, recorded_heads
from memory.backup import validate_export


@dataclass
class Checked:
    """What a verify found (``ok`` when every check passed) and the restored chain, for a restore."""

    manifest: Manifest
    chains: dict[str, ChainReport] = field(default_factory=dict)
    events: list[StoredEvent] = field(default_factory=list)
    heads: dict[str, ChainHead] = field(default_factory=dict)
    memory_counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems, "manifest": self.manifest.summary(),
                "memory": self.memory_counts, "audit": {n: r.as_dict() for n, r in self.chains.items()}}


def _check_memory(root: Path, manifest: Manifest, out: Checked) -> None:
    if manifest.part(MEMORY_PART) is None:
        return
    try:
        header = validate_export(root / MEMORY_PART)
    except HydraError as e:
        out.problems.append(f"memory: {e}")
        return
    out.memory_counts = dict(header["counts"])
    want = {k.removeprefix("memory:"): n for k, n in manifest.counts.items() if k.startswith("memory:")}
    if want and want != out.memory_counts:
        out.problems.append(f"memory: the export holds {out.memory_counts}, the manifest says {want}")


def snapshots(root: Path, manifest: Manifest) -> list[StreamSnapshot]:
    """The stream snapshots in the order they were taken."""
    out = []
    for p in manifest.parts:
        if p.kind is PartKind.STREAM_META:
            try:
                out.append(StreamSnapshot.from_meta((root / stream_meta_part(p.source)).read_bytes()))
            except (ValueError, KeyError, TypeError) as e:
                raise BackupInvalidError(f"stream {p.source}: unreadable snapshot metadata ({e})") from None
    return out


async def restore_streams(bus: Bus, root: Path, manifest: Manifest, timeout: float) -> None:
    for snap in await asyncio.to_thread(snapshots, root, manifest):
        await restore_stream(bus.nc, snap, root / stream_part(snap.stream), timeout=timeout)


async def check_chain(bus: Bus, out: Checked) -> None:
    """Read the restored events and heads and verify every node's chain into ``out``."""
    out.events = await read_events(bus, timeout=30.0)
    out.heads = await recorded_heads(bus)
    out.chains = verify_chains(out.events, stream=await stream_facts(bus), recorded=out.heads)
    for node, rep in out.chains.items():
        for p in rep.problems:
            out.problems.append(f"audit chain of node {node}: {p.kind} at seq {p.seq}: {p.detail}")


async def check_unpacked(root: Path, manifest: Manifest, nats_dir: Path, *, binary: Path | None,
                         timeout: float) -> Checked:
    """Validate unpacked parts; the streams are restored into a scratch server on ``nats_dir`` (kept)."""
    out = Checked(manifest)
    await asyncio.to_thread(_check_memory, root, manifest, out)
    async with EmbeddedNats(nats_dir, binary=binary, server_name="hydra-restore") as srv:
        async with Bus([srv.url or ""], BusConfig(), name="hydra-restore") as bus:
            try:
                await restore_streams(bus, root, manifest, timeout)
                await check_chain(bus, out)
            except HydraError as e:
                out.problems.append(str(e))
    return out


async def verify_backup(path: Path, scratch: Path, *, binary: Path | None = None, timeout: float = 600.0) -> Checked:
    """Checksums, then every part checked (``scratch``: an empty directory the caller removes)."""
    manifest = await asyncio.to_thread(unpack, path, scratch / "parts")
    return await check_unpacked(scratch / "parts", manifest, scratch / "nats", binary=binary, timeout=timeout)
