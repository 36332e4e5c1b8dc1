"""Crash-safe file writes: a reader sees the old content or the new one, never a torn file.

Write to a temporary file in the same directory, ``fsync`` it, ``rename`` it over the target, then
``fsync`` the directory so the rename itself is durable. Survives ``kill -9`` and power loss
(on file systems that honour fsync). Blocking: call through ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
from pathlib import Path

TMP_SUFFIX = ".tmp"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:  # a failed write (disk full, ...) leaves no temporary file behind
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_stale_tmp(directory: Path) -> int:
    """Delete temporary files a killed writer left behind; returns how many."""
    removed = 0
    for p in directory.glob(f".*{TMP_SUFFIX}"):
        p.unlink(missing_ok=True)
        removed += 1
    return removed
