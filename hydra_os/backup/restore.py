"""Restoring a backup into a fresh state dir (and, with ``bus.url``, a fresh cluster's bus).

Everything is validated before the target is touched: the archive is unpacked and checksummed into a
staging directory beside the target, the memory export validated, and the streams restored into a
scratch ``nats-server`` whose audit chains must verify. Only then is the target written: the scratch
JetStream store is moved into ``<state_dir>/nats`` (same file system: a rename), or with ``bus.url``
the streams are restored into that bus; the audit heads are advanced to the restored chain and
written where the node reads them; memory is imported; the state files are put back.

A target that already holds state is refused; with ``force`` its contents are first moved aside to
``<state_dir>.replaced-<utc>`` (never deleted), and on an external bus the existing streams are
deleted. The target's state-dir lock is held throughout, so a running daemon cannot be overwritten.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from hydra_os.backup.archive import unpack
from hydra_os.backup.errors import BackupInvalidError, RestoreTargetError
from hydra_os.backup.heads import advance
from hydra_os.backup.jetstream import stream_exists
from hydra_os.backup.manifest import Manifest, PartKind
from hydra_os.backup.parts import MEMORY_PART
from hydra_os.backup.verify import Checked, check_unpacked, restore_streams, snapshots
from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.config import Settings
from hydra_os.lockfile import StateLock
from hydra_os.policy.chainhead import HEAD_FILE, ChainHead, audit_bucket
from hydra_os.sections.backup import DEFAULT_SUBDIR
from memory.backup import import_memory
from memory.core.atomic import atomic_write
from memory.wiring import open_local

RESTORED_CONFIG = "restored-config"
IGNORED = frozenset({DEFAULT_SUBDIR, "hydra.lock"})  # a target holding only these counts as empty


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    memory: dict[str, int]
    streams: list[str]
    files: list[str]
    moved_aside: Path | None
    seconds: float


def _held(target: Path) -> list[str]:
    if not target.exists():
        return []
    return sorted(p.name for p in target.iterdir() if p.name not in IGNORED)


def _move_aside(target: Path) -> Path:
    aside = target.with_name(f"{target.name}.replaced-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    aside.mkdir(mode=0o700)
    for p in target.iterdir():
        if p.name not in IGNORED:
            p.rename(aside / p.name)
    return aside


def _put_files(root: Path, manifest: Manifest, target: Path) -> list[str]:
    out = []
    for p in manifest.parts:
        if p.kind is PartKind.FILE:
            dst = target / p.source
        elif p.kind is PartKind.CONFIG:
            dst = target / RESTORED_CONFIG / Path(p.source).name
        else:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(dst, (root / p.name).read_bytes())
        out.append(str(dst.relative_to(target)))
    return out


async def _write_heads(bus: Bus, heads: dict[str, ChainHead], target: Path, node: str) -> None:
    """The heads advanced to the restored chain: the KV copy for every node, the file for this one."""
    kv = await audit_bucket(bus)
    for n, head in heads.items():
        await kv.put(n, head.model_dump_json().encode())
    if (mine := heads.get(node)) is not None:
        path = target / HEAD_FILE
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True, mode=0o700)
        await asyncio.to_thread(atomic_write, path, mine.model_dump_json().encode())


async def _to_external_bus(settings: Settings, root: Path, checked: Checked, force: bool) -> None:
    async with Bus(settings.bus.url or [], settings.bus, name="hydra-restore") as bus:
        present = [s.stream for s in snapshots(root, checked.manifest) if await stream_exists(bus.nc, s.stream)]
        if present and not force:
            raise RestoreTargetError(f"the bus already has streams {', '.join(present)}; restore into a fresh "
                                     "cluster, or pass --force to delete them first")
        for s in present:
            await bus.js.delete_stream(s)
        await restore_streams(bus, root, checked.manifest, settings.backup.timeout)
        await _write_heads(bus, advance(checked.heads, checked.events), settings.node.state_dir, settings.node.id)


async def _embedded(settings: Settings, staging: Path, checked: Checked) -> None:
    """Move the verified scratch store into the target, then start it once to write the heads."""
    target = settings.node.state_dir
    await asyncio.to_thread((staging / "nats").rename, target / "nats")
    # the daemon makes its bus credentials on first start; until then only this process runs the server
    async with EmbeddedNats(target / "nats", binary=settings.bus.server_binary, server_name="hydra-restore") as srv:
        async with Bus([srv.url or ""], settings.bus, name="hydra-restore") as bus:
            await _write_heads(bus, advance(checked.heads, checked.events), target, settings.node.id)


async def restore_backup(path: Path, settings: Settings, *, force: bool = False) -> Restored:
    """Restore ``path`` into ``settings.node.state_dir`` (see the module docstring)."""
    started = time.time()
    target = settings.node.state_dir
    held = await asyncio.to_thread(_held, target)
    if held and not force:
        raise RestoreTargetError(f"the restore target {target} is not empty ({', '.join(held[:6])}); restore into "
                                 "a fresh state dir, or pass --force to move its contents aside first")
    try:
        await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise RestoreTargetError(f"cannot create the restore target {target} ({e.strerror})") from None
    lock = StateLock(target)
    lock.acquire()
    staging = target.with_name(f".{target.name}.restore-staging")
    try:
        await asyncio.to_thread(shutil.rmtree, staging, True)
        await asyncio.to_thread(staging.mkdir, mode=0o700)
        manifest = await asyncio.to_thread(unpack, path, staging / "parts")
        checked = await check_unpacked(staging / "parts", manifest, staging / "nats",
                                       binary=settings.bus.server_binary, timeout=settings.backup.timeout)
        if not checked.ok:
            raise BackupInvalidError(f"{path.name} does not verify; nothing was written: {'; '.join(checked.problems)}")
        aside = await asyncio.to_thread(_move_aside, target) if held else None
        if settings.bus.url:
            await _to_external_bus(settings, staging / "parts", checked, force)
        else:
            await _embedded(settings, staging, checked)
        memory: dict[str, int] = {}
        if manifest.part(MEMORY_PART) is not None:
            mem = await open_local(settings.memory, target, create_defaults=False)
            try:
                memory = await import_memory(mem.stack, staging / "parts" / MEMORY_PART)
            finally:
                await mem.close()
        files = await asyncio.to_thread(_put_files, staging / "parts", manifest, target)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
        lock.release()
    streams = [s for s in manifest.order if s not in ("memory", "files")]
    logger.info("restored {} into {}: streams {}, memory {}", path.name, target, streams, json.dumps(memory))
    return Restored(manifest, memory, streams, files, aside, time.time() - started)
