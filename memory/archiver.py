"""Archiving chat exchanges off the hot path: a bounded queue and one background worker.

Each exchange (the owner's turn and the assistant's answer) is stored as two passages with their roles,
time and conversation id (``session``), then the rules of :mod:`memory.statements` keep what the owner
stated (preferences into the ``preferences`` block and the graph, project progress into the ``projects``
block) and, with a model configured, :class:`~memory.extract.ChatExtractor` extracts facts from the
owner's turn. A full queue drops the exchange (counted and logged): a reply is never held up by memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from loguru import logger

from hydra_os.lifecycle import Background
from memory.errors import MemoryLayerError
from memory.extract import ChatExtractor, MemoryWriter
from memory.protocols import MemoryStack, Role
from memory.statements import (
    Preference,
    ProjectState,
    changes,
    kept_preferences,
    preferences,
    project_line_update,
    project_states,
)

StackOpener = Callable[[], Awaitable[MemoryStack]]
CHAT_SOURCE = "chat"


@dataclass(frozen=True, slots=True)
class Exchange:
    conversation: str
    user: str
    answer: str
    at: datetime
    model: str
    statements: bool = True
    """Keep what the owner stated in the turn (False: the caller kept it already, as the intake does)."""


@dataclass(frozen=True, slots=True)
class Kept:
    """What :func:`keep_statements` kept of a turn."""

    preferences: tuple[Preference, ...] = ()
    projects: tuple[ProjectState, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.preferences or self.projects)

    def describe(self) -> str:
        """``name: Sam; visual novel: finished chapter 3``: what was kept, for an acknowledgement."""
        said = [f"{p.key.replace('_', ' ')}: {p.value}" for p in self.preferences]
        return "; ".join([*said, *(f"{s.project}: {s.state}" for s in self.projects)])


async def keep_statements(writer: MemoryWriter, text: str, at: datetime) -> Kept:
    """What the owner states in ``text`` that the rules know: preferences and project progress. A changed
    preference closes the old fact (``record_preference``). A keyless change ("I switched to Neovim") is
    read against the kept preferences, so the block is read only when the turn says one."""
    known = kept_preferences((await writer.stack.core.get_block("preferences")).value) if changes(text) else None
    prefs = preferences(text, known)
    for p in prefs:
        await writer.record_preference(p.key, p.value, valid_from=at)
    states = project_states(text)
    if states:
        block = await writer.stack.core.get_block("projects")
        value = block.value
        for s in states:
            value = project_line_update(value, s, f"{at:%Y-%m-%d}", block.limit)
        if value != block.value:
            await writer.stack.core.rewrite("projects", value)
    return Kept(tuple(prefs), tuple(states))


async def archive(writer: MemoryWriter, ex: Exchange) -> None:
    """One exchange into memory: both turns (roles, time, conversation), then what the owner stated."""
    tags = [CHAT_SOURCE, f"model:{ex.model}"[:64]]
    await writer.remember(ex.user, source=CHAT_SOURCE, tags=tags, session=ex.conversation, role=Role.USER,
                          at=ex.at)
    if ex.answer.strip():
        # a millisecond later, so the answer sorts after the turn it answers
        await writer.remember(ex.answer, source=CHAT_SOURCE, tags=tags, session=ex.conversation,
                              role=Role.ASSISTANT, at=ex.at + timedelta(milliseconds=1), extract=False)
    if ex.statements:
        await keep_statements(writer, ex.user, ex.at)


class ExchangeArchiver:
    """``submit()`` never waits: the exchange is queued (or dropped when ``queue_size`` are waiting)."""

    def __init__(self, stack: StackOpener, *, owner: str, extractor: ChatExtractor | None = None,
                 queue_size: int = 256, timeout_s: float = 60.0) -> None:
        self._stack = stack
        self.owner = owner
        self.extractor = extractor
        self.timeout_s = timeout_s
        self._queue: asyncio.Queue[Exchange] = asyncio.Queue(maxsize=queue_size)
        self._tasks = Background("memory-archiver")
        self.archived = 0
        self.dropped = 0
        self.failed = 0
        self.on_drop: Callable[[], None] | None = None
        self.on_failure: Callable[[], None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        if not self._tasks:
            self._tasks.spawn(self._run(), "run")

    async def stop(self) -> None:
        await self._tasks.close()

    def submit(self, ex: Exchange) -> bool:
        try:
            self._queue.put_nowait(ex)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
            logger.warning("memory: archive queue full ({} waiting): exchange of conversation {} not archived",
                           self._queue.qsize(), ex.conversation)
            return False
        self._idle.clear()
        return True

    async def drained(self, timeout: float) -> None:
        """Wait until every queued exchange was handled (tests and shutdown)."""
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    def status(self) -> dict[str, int]:
        return {"archived": self.archived, "dropped": self.dropped, "failed": self.failed,
                "waiting": self._queue.qsize()}

    async def _run(self) -> None:
        while True:
            ex = await self._queue.get()
            try:
                async with asyncio.timeout(self.timeout_s):
                    writer = MemoryWriter(await self._stack(), self.extractor, owner=self.owner)
                    await archive(writer, ex)
                self.archived += 1
            except (MemoryLayerError, TimeoutError) as e:
                self.failed += 1
                if self.on_failure is not None:
                    self.on_failure()
                logger.warning("memory: exchange of conversation {} not archived: {}", ex.conversation,
                               e or "timed out")
            except Exception:  # a bug must not kill the worker: later exchanges still get archived
                self.failed += 1
                logger.exception("memory: archiving conversation {} failed", ex.conversation)
            finally:
                self._queue.task_done()
                if self._queue.empty():
                    self._idle.set()
