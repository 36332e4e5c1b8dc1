"""Taking one backup: parts in their consistent order, packed, optionally copied to restic."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from hydra_os import __version__
from hydra_os.backup.archive import pack, remove_partial
from hydra_os.backup.errors import BackupError
from hydra_os.backup.manifest import Manifest, PartKind
from hydra_os.backup.parts import MEMORY_PART, Staging, add_files, add_streams
from hydra_os.bus.client import Bus
from hydra_os.config import Settings
from hydra_os.errors import HydraError
from memory.backup import export_memory
from memory.protocols import MemoryStack


@dataclass(frozen=True)
class Taken:
    path: Path
    manifest: Manifest
    archive_bytes: int
    seconds: float


async def take_backup(settings: Settings, bus: Bus, memory: MemoryStack | None) -> Taken:
    """Write one backup of this node and the cluster state to ``backup.destination``.

    ``memory``: the memory stack (local or over the bus); None leaves memory out (no memory node),
    which the manifest shows by having no memory part.
    """
    cfg = settings.backup
    dest = cfg.destination_for(settings.node.state_dir)
    started = time.time()
    try:
        await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True, mode=0o700)
        await asyncio.to_thread(remove_partial, dest)
        tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".hydra-backup-staging-", dir=dest))
    except OSError as e:
        raise BackupError(f"backup destination {dest} is not writable ({e.strerror}); set backup.destination") from None
    try:
        staging = Staging(tmp)
        async with asyncio.timeout(cfg.timeout):
            await add_streams(staging, bus.nc, timeout=cfg.timeout)
            model = None
            if memory is not None:
                counts = await export_memory(memory, staging.path(MEMORY_PART))
                await staging.add(MEMORY_PART, PartKind.MEMORY)
                staging.counts.update({f"memory:{k}": n for k, n in counts.items()})
                staging.order.append("memory")
                model = memory.archival.embedding_model
            await add_files(staging, settings.node.state_dir, settings.tasks.scheduler.job_store, settings.policy.file)
        manifest = Manifest(node=settings.node.id, created=started, finished=time.time(), hydra_version=__version__,
                            embedding_model=model, counts=staging.counts, order=staging.order, parts=staging.parts)
        path = await asyncio.to_thread(pack, tmp, manifest, dest, cfg.compression_level)
    except TimeoutError:
        raise BackupError(f"the backup did not finish within backup.timeout ({cfg.timeout:g}s)") from None
    except OSError as e:
        raise BackupError(f"writing the backup to {dest} failed: {e.strerror or e}") from None
    except HydraError as e:
        if isinstance(e, BackupError):
            raise
        raise BackupError(f"backup failed: {e}") from e
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
    size = (await asyncio.to_thread(path.stat)).st_size
    took = time.time() - started
    logger.info("backup {} written: {} parts, {:.1f} MB in {:.1f}s", path.name, len(manifest.parts), size / 1e6, took)
    return Taken(path, manifest, size, took)
