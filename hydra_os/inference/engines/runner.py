"""How an engine runs: a child process of the daemon, or a systemd unit.

:class:`ProcessRunner` spawns the argv in its own process group with stdout and stderr appended to
the model's log file, asks Linux to SIGTERM it if the daemon dies, and stops it with SIGTERM, then
SIGKILL after the grace period (:func:`hydra_os.procutil.terminate`), then SIGKILL to whatever is left
of its process group (engines such as vLLM fork workers).

:class:`SystemdRunner` runs ``systemctl start|stop|is-active UNIT`` (argument lists); the unit
itself defines the engine's command line and logs to the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Protocol

from hydra_os.inference.engines.errors import EngineStartError
from hydra_os.procutil import die_with_parent, terminate

MAX_LOG_BYTES = 20 * 1024 * 1024


class Runner(Protocol):
    @property
    def pid(self) -> int | None: ...

    @property
    def log_hint(self) -> str:
        """Where to read the engine's output."""
        ...

    async def start(self) -> None: ...

    async def exit_code(self) -> int | None:
        """The exit code once it has stopped running, else None."""
        ...

    async def stop(self, grace: float) -> int | None: ...


def _open_log(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.stat().st_size > MAX_LOG_BYTES:
            path.replace(path.with_suffix(path.suffix + ".1"))
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def log_tail(path: Path | None, lines: int = 8) -> str:
    if path is None:
        return ""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())


class ProcessRunner:
    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path | None, log_path: Path) -> None:
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def log_hint(self) -> str:
        return str(self.log_path)

    async def start(self) -> None:
        fd = _open_log(self.log_path)
        try:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            os.write(fd, f"\n=== hydra: {stamp} starting: {' '.join(self.argv)}\n".encode())
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fd,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=str(self.cwd) if self.cwd else None,
                preexec_fn=die_with_parent,
                start_new_session=True,
            )
        except OSError as e:
            raise EngineStartError(
                f"cannot run {self.argv[0]!r}: {e.strerror or e}; check the engine command"
            ) from None
        finally:
            os.close(fd)

    async def exit_code(self) -> int | None:
        return self._proc.returncode if self._proc else None

    async def stop(self, grace: float) -> int | None:
        if self._proc is None:
            return None
        pgid = self._proc.pid
        code = await terminate(self._proc, grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)  # leftover workers of the engine's own group
        return code


class SystemdRunner:
    def __init__(self, unit: str, *, systemctl: str = "systemctl") -> None:
        self.unit = unit
        self.systemctl = systemctl

    @property
    def pid(self) -> int | None:
        return None

    @property
    def log_hint(self) -> str:
        return f"journalctl -u {self.unit}"

    async def _run(self, *args: str) -> tuple[int, str]:
        try:
            proc = await asyncio.create_subprocess_exec(
                self.systemctl,
                *args,
                self.unit,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as e:
            raise EngineStartError(f"cannot run {self.systemctl!r}: {e.strerror or e}") from None
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace").strip()

    async def start(self) -> None:
        status, out = await self._run("start")
        if status != 0:
            raise EngineStartError(f"systemctl start {self.unit} failed (exit {status}): {out or 'no output'}")

    async def exit_code(self) -> int | None:
        status, _ = await self._run("is-active", "--quiet")
        return None if status == 0 else status

    async def stop(self, grace: float) -> int | None:
        status, out = await self._run("stop")
        if status != 0:
            raise EngineStartError(f"systemctl stop {self.unit} failed (exit {status}): {out or 'no output'}")
        return 0
