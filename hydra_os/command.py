"""Run one external command with an argument list (never a shell), with a timeout, asynchronously.

Shared by healing (systemctl) and the NixOS layer (nixos-rebuild, nix-env, the privileged helper),
so it lives beside :mod:`hydra_os.procutil` rather than inside either of them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra_os.errors import HydraError
from hydra_os.procutil import terminate


class CommandError(HydraError):
    """The command could not be started or did not finish in time (a non-zero exit is a result, not this)."""

    http_status = 500
    code = "command_failed"


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def brief(self) -> str:
        """``argv[0] ... exited N: last line of stderr`` for messages."""
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-1:] or [""]
        head = f"{' '.join(self.argv[:3])} exited {self.returncode}"
        return head + (f": {tail[0][:200]}" if tail[0] else "")


async def run_command(
    argv: Sequence[str],
    *,
    limit_s: float = 60.0,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> CommandResult:
    """Run ``argv`` and collect its output. Raises :class:`CommandError` if it cannot start or times out."""
    if not argv:
        raise CommandError("empty command")
    full_env = None if env is None else {**os.environ, **env}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
            cwd=str(cwd) if cwd else None,
        )
    except OSError as e:
        raise CommandError(f"cannot run {argv[0]}: {e.strerror or e}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    except TimeoutError:
        await terminate(proc, grace=2.0)
        raise CommandError(f"{argv[0]} did not finish within {limit_s:g}s") from None
    except asyncio.CancelledError:
        await terminate(proc, grace=2.0)
        raise
    return CommandResult(
        tuple(argv),
        proc.returncode if proc.returncode is not None else -1,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
    )
