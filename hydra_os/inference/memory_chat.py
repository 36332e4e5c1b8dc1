"""Memory-aware model names on ``/v1/chat/completions`` (``hydra/assistant``; ``[inference.memory]``).

For such a name the gateway (1) assembles memory for the last user turn within ``deadline_ms``
(:func:`memory.conversation.assemble`: core blocks, passages, current graph facts, learnings) and puts
it into the system message, merged with the client's own; (2) forwards the request to the router as the
configured model (``hydra/auto``); (3) once the answer is complete (streamed or not) queues the exchange
for the :class:`~memory.archiver.ExchangeArchiver` (both turns with roles, time and conversation id,
then preferences/projects/facts), off the hot path. ``x-hydra-memory`` names what went in
(``ids=core:persona,...,passage:...; tokens=N``) and ``x-hydra-conversation`` the conversation id.

A memory failure (no memory node, a timeout) degrades to a plain relay with
``x-hydra-memory: unavailable; reason=...``, never a failed chat. With no chat model up the answer is a
quotation of the best current fact or passage (:func:`memory.conversation.quote_answer`).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from loguru import logger
from prometheus_client import CollectorRegistry, Counter

from hydra_os.api.limits import Scope
from hydra_os.component import NodeContext
from hydra_os.errors import HydraError
from hydra_os.inference.asgi import Reply, StreamReply
from hydra_os.inference.errors import ModelNotFoundError, NoEndpointError
from hydra_os.sections.inference import InferenceConfig
from memory.archiver import Exchange, ExchangeArchiver, StackOpener
from memory.context import MemoryContext
from memory.context_config import ContextConfig
from memory.conversation import (
    assemble,
    completion,
    completion_stream,
    conversation_id,
    last_user_text,
    merge_system,
    message_text,
    provenance_header,
    quote_answer,
)
from memory.errors import MemoryLayerError, MemoryUnavailableError
from memory.protocols import MemoryStack, utcnow
from memory.wiring import make_extractor, memory_link

Forward = Callable[[dict[str, Any], bool], Awaitable[Reply | StreamReply]]
CONVERSATION_HEADER = b"x-hydra-conversation"
MEMORY_OWNER = "hydra-memory"  # owned_by of the memory-aware names in /v1/models (they are no model)
_MAX_CAPTURE = 1 << 20  # a streamed answer over 1 MiB is archived cut to that
_UNSAFE = re.compile(r"[^\x20-\x7e]+")


def _header_safe(text: str, limit: int = 200) -> str:
    return _UNSAFE.sub(" ", text)[:limit]


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return None


class StackSource(Protocol):
    """Where the gateway gets its memory stack: :class:`memory.client.MemoryLink` (the bus client,
    handshaken once), or a :class:`StackCache` over any opener."""

    async def get(self) -> MemoryStack: ...

    def reset(self) -> None: ...


class StackCache:
    """A stack from ``opener``, opened once and reopened after a failure."""

    def __init__(self, opener: StackOpener) -> None:
        self._open = opener
        self._stack: MemoryStack | None = None

    async def get(self) -> MemoryStack:
        if self._stack is None:
            self._stack = await self._open()
        return self._stack

    def reset(self) -> None:
        self._stack = None


class MemoryChat:
    def __init__(self, config: InferenceConfig, context: ContextConfig, archiver: ExchangeArchiver,
                 stack: StackSource) -> None:
        self.cfg = config.memory
        self.context_cfg = context if self.cfg.budget_tokens is None else context.model_copy(
            update={"budget_tokens": self.cfg.budget_tokens})
        self.archiver = archiver
        self._stack = stack
        self.targets: dict[str, str] = {}
        if self.cfg.enabled:
            self.targets = dict(self.cfg.models)
            self.targets.update({a: a for a in self.cfg.aliases})  # an alias forwards as itself, raw
        self.outcomes: Counter | None = None

    def bind(self, registry: CollectorRegistry) -> None:
        """Count outcomes in the gateway's metrics registry (``/metrics``)."""
        self.outcomes = Counter("hydra_memory_chat", "Memory-aware chat requests and archiving, by outcome.",
                                ["outcome"], registry=registry)
        self.archiver.on_drop = lambda: self._count("archive_dropped")
        self.archiver.on_failure = lambda: self._count("archive_failed")

    def _count(self, outcome: str) -> None:
        if self.outcomes is not None:
            self.outcomes.labels(outcome).inc()

    def start(self) -> None:
        self.archiver.start()

    async def stop(self) -> None:
        await self.archiver.stop()

    def model_names(self) -> list[str]:
        return sorted(self.cfg.models) if self.cfg.enabled else []

    def handles(self, model: Any) -> bool:
        return isinstance(model, str) and model in self.targets

    async def context(self, query: str) -> MemoryContext:
        """The memory for ``query`` within the deadline (raises MemoryLayerError or TimeoutError)."""
        deadline = self.cfg.deadline_ms / 1000
        try:
            async with asyncio.timeout(deadline):  # opening the client (an `info` round trip) counts too
                stack = await self._stack.get()
                return await assemble(stack, self.context_cfg, query, deadline_s=deadline)
        except (MemoryUnavailableError, TimeoutError):
            self._stack.reset()
            raise

    async def handle(self, scope: Scope, body: dict[str, Any], forward: Forward) -> Reply | StreamReply:
        requested = str(body["model"])
        messages: list[dict[str, Any]] = body["messages"]
        conv = conversation_id(_header(scope, CONVERSATION_HEADER), body.get("user")
                               if isinstance(body.get("user"), str) else None, messages)
        query = last_user_text(messages)
        stream = body.get("stream") is True
        ctx: MemoryContext | None = None
        try:
            ctx = await self.context(query or message_text(messages[-1]))
            note = provenance_header(ctx, self.cfg.header_max_chars)
            self._count("injected")
        except (MemoryLayerError, TimeoutError, HydraError) as e:
            why = "timeout" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            note = f"unavailable; reason={_header_safe(why)}"
            self._count("unavailable")
            logger.warning("gateway: {} without memory: {}", requested, why)
        sent = dict(body, model=self.targets[requested])
        if ctx is not None and ctx.items:
            sent["messages"] = merge_system(messages, ctx.render())
        extra = {"x-hydra-memory": note, "x-hydra-conversation": _header_safe(conv, 128)}
        try:
            reply = await forward(sent, stream)
        except (NoEndpointError, ModelNotFoundError):
            if ctx is None:
                raise  # neither a model nor memory: the router's own error
            self._archive(conv, query, "", requested)  # the owner's turn and what it states; no answer to keep
            return self._quoted(requested, ctx, stream, extra)
        if reply.status != 200:
            return _with_headers(reply, extra)
        if isinstance(reply, StreamReply):
            reply.chunks = _Capture(reply.chunks, lambda text: self._archive(conv, query, text, requested))
            reply.headers = {**reply.headers, **extra}
            return reply
        self._archive(conv, query, _answer_of(reply.body), requested)
        return _with_headers(reply, extra)

    def _quoted(self, model: str, ctx: MemoryContext, stream: bool, extra: dict[str, str]) -> Reply | StreamReply:
        """No chat model up: quote memory in an OpenAI-shaped completion (the quotation is not archived:
        it says nothing new; the owner's turn is, by the caller, as ``hydra ask`` keeps it)."""
        self._count("quoted")
        now = utcnow()
        rid = f"chatcmpl-mem-{uuid.uuid4().hex[:16]}"
        text = quote_answer(ctx)
        headers = {**extra, "x-hydra-route": "tier=none; endpoint=memory; model=memory; reason=no chat model up"}
        if stream:
            return StreamReply(200, _iterate(completion_stream(model, text, now, rid)), "text/event-stream", headers)
        return Reply(200, completion(model, text, now, rid), headers=headers)

    def _archive(self, conv: str, user: str, answer: str | None, model: str) -> None:
        if answer is None or not user.strip():
            return  # a broken stream or no user turn: nothing whole to keep
        if self.archiver.submit(Exchange(conv, user, answer, utcnow(), model)):
            self._count("archived")


def _with_headers(reply: Reply | StreamReply, extra: dict[str, str]) -> Reply | StreamReply:
    reply.headers = {**reply.headers, **extra}
    return reply


def _answer_of(body: bytes) -> str | None:
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


async def _iterate(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c


class _Capture:
    """Passes a stream's chunks on untouched and keeps a copy; when the stream ends whole, the answer text
    (``choices[0].delta.content`` of the SSE ``data:`` lines) is handed to ``done`` on the next loop turn,
    so parsing never delays a chunk. A stream that breaks (an error event) or that the client leaves is
    not archived."""

    __slots__ = ("_done", "_inner", "_kept", "_size")

    def __init__(self, inner: AsyncIterator[bytes], done: Callable[[str | None], None]) -> None:
        self._inner = inner
        self._done = done
        self._kept: list[bytes] = []
        self._size = 0

    def __aiter__(self) -> _Capture:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._inner.__anext__()
        except StopAsyncIteration:
            kept, self._kept = self._kept, []
            asyncio.get_running_loop().call_soon(lambda: self._done(stream_text(b"".join(kept))))
            raise
        if self._size < _MAX_CAPTURE:
            self._kept.append(chunk)
            self._size += len(chunk)
        return chunk

    async def aclose(self) -> None:
        aclose = getattr(self._inner, "aclose", None)
        if aclose is not None:
            await aclose()


def stream_text(raw: bytes) -> str | None:
    """The answer text of an SSE chat stream; None when it carries an error event."""
    out: list[str] = []
    for line in raw.split(b"\n"):
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        try:
            event = json.loads(data)
        except ValueError:
            continue  # cut at the capture limit
        if isinstance(event, dict) and "error" in event:
            return None
        try:
            piece = event["choices"][0]["delta"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            continue
        if isinstance(piece, str):
            out.append(piece)
    return "".join(out)


def build_memory_chat(ctx: NodeContext) -> MemoryChat | None:
    """The gateway's memory-aware names, over the bus memory client (any node reaches the memory node)."""
    inf = ctx.settings.inference
    if not inf.memory.enabled:
        return None
    mem = ctx.settings.memory
    cache = memory_link(ctx.bus, mem)  # one client for every request: no handshake round trip per chat
    extractor = make_extractor(mem.extract)
    if extractor is not None and (mem.extract.model in inf.memory.models or mem.extract.model in inf.memory.aliases):
        # each extraction call would itself be archived and extracted: a loop without end
        logger.warning("memory.extract.model {!r} is memory-aware: chats are archived without model extraction",
                       mem.extract.model)
        extractor = None
    archiver = ExchangeArchiver(cache.get, owner=ctx.settings.owner.name, extractor=extractor,
                                queue_size=inf.memory.queue_size)
    return MemoryChat(inf, mem.context, archiver, cache)
