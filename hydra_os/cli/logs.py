"""Where log lines go: one loguru sink on stderr, for our own lines and for every library's.

Libraries log through the standard ``logging`` module (the MCP SDK, APScheduler, uvicorn, httpx). Their
records are handed to loguru here, so the daemon writes one format (and only JSON with ``log.json_lines``).
Installing this root handler first also matters because the MCP SDK calls ``logging.basicConfig`` with a
Rich handler at INFO when its server is built, which is a no-op only once the root logger has a handler:
without it every scheduler run was printed at INFO, in a second format, for the life of the daemon.
"""

from __future__ import annotations

import logging
import sys

from loguru import logger

LIBRARY_LEVEL = logging.WARNING
"""Libraries' INFO lines are their own chatter (each scheduler run, each MCP session); ours carry the story."""
CLI_LEVEL = "WARNING"
"""A CLI command's output is its stdout; on stderr only what went wrong."""


class _ToLoguru(logging.Handler):
    """A standard ``logging`` record, written by loguru with the library's logger name in front."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(exception=record.exc_info).log(level, f"{record.name}: {record.getMessage()}")


def setup_logging(level: str, json_lines: bool = False) -> None:
    """Our lines at ``level`` and libraries' at WARNING and above, all through one stderr sink."""
    logger.remove()
    if json_lines:
        logger.add(sys.stderr, level=level, serialize=True)
    else:
        logger.add(sys.stderr, level=level, format="{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}")
    logging.basicConfig(handlers=[_ToLoguru()], level=LIBRARY_LEVEL, force=True)
