"""Refuse a write before it can fill the disk, where a full disk is a crash rather than an error.

qdrant-edge writes through memory maps (a full filesystem is a SIGBUS); Ladybug fails the write but
leaves a torn WAL behind and aborts the process at close, and the graph then refuses to open
("the WAL file is corrupted") even after space is freed. So both stores check the free space of their
filesystem against a configured margin first and raise :class:`MemoryDiskSpaceError`: memory is
read-only (the store serves reads) while the rest of the node runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from memory.errors import MemoryBackendError, MemoryDiskSpaceError

MIB = 1024 * 1024


def require_free(path: Path, min_bytes: int, what: str, setting: str) -> None:
    """Raise MemoryDiskSpaceError when ``path``'s filesystem has less than ``min_bytes`` free (0 = no check)."""
    if min_bytes <= 0:
        return
    try:
        free = shutil.disk_usage(path).free
    except OSError as err:
        raise MemoryBackendError(f"{what}: cannot stat {path}: {err.strerror}") from err
    if free < min_bytes:
        raise MemoryDiskSpaceError(
            f"{what} refused: {free // MIB} MiB free on the filesystem of {path}, below {setting} "
            f"({min_bytes // MIB} MiB); on a full disk this store crashes or is damaged instead of failing "
            "cleanly; free space there (reads go on meanwhile)"
        )
