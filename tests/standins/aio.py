"""What every aiohttp stand-in server shares: run ``app()`` on loopback, learn the bound port, stop."""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Self

from aiohttp import web


class AioStandin(abc.ABC):
    """Mixin for a (dataclass) stand-in with ``host``, ``port`` (0 = any free one; the bound port is
    stored back) and ``_runner`` fields: ``await s.start()`` / ``await s.stop()`` or ``async with s``."""

    host: str
    port: int
    _runner: web.AppRunner | None
    runner_options: ClassVar[dict[str, Any]] = {"shutdown_timeout": 0.5}
    backlog: ClassVar[int] = 128

    @abc.abstractmethod
    def app(self) -> web.Application: ...

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app(), **self.runner_options)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=self.backlog)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
