"""One daemon per state directory, enforced with ``flock`` (released by the kernel if we die)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from hydra_os.errors import StartupError, StateDirLockedError


class StateLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "hydra.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise StartupError(f"cannot open lock file {self.path}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StateDirLockedError(
                f"another hydra daemon (pid {holder}) is using state dir {self.path.parent}; "
                "stop it first or give this one its own --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
