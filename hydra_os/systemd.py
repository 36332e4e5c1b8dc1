"""systemd integration: the sd_notify datagram protocol (READY=1, WATCHDOG=1, STATUS=, STOPPING=1).

No libsystemd needed: a datagram to the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (``@`` means
the abstract namespace). Outside systemd every call is a no-op.
"""

from __future__ import annotations

import asyncio
import os
import socket

from loguru import logger

from hydra_os.lifecycle import Background


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        self.watchdog_interval: float | None = None
        if usec and usec.isdigit() and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1_000_000 / 2  # ping at half the timeout
        self._tasks = Background("sd")

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, state: str) -> bool:
        if not self.address:
            return False
        addr = self.address
        if addr.startswith("@"):
            addr = "\0" + addr[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(addr)
                s.sendall(state.encode())
            return True
        except OSError as e:
            logger.warning("sd_notify to {} failed: {}", self.address, e)
            return False

    def ready(self, status: str = "") -> None:
        self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def start_watchdog(self, healthy: callable | None = None) -> None:  # type: ignore[valid-type]
        """Ping WATCHDOG=1 at half the configured timeout while ``healthy()`` says so."""
        if not self.enabled or not self.watchdog_interval or self._tasks:
            return

        async def loop() -> None:
            while True:
                if healthy is None or healthy():
                    self.notify("WATCHDOG=1")
                await asyncio.sleep(self.watchdog_interval or 1.0)

        self._tasks.spawn(loop(), "watchdog")

    async def stop_watchdog(self) -> None:
        await self._tasks.close()
