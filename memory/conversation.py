"""Memory in one conversation turn: what goes in (context in the system message) and how it is named.

Shared by the gateway's memory-aware models (``hydra/assistant``) and ``hydra ask``, so both assemble
context the same way: :func:`assemble` (a :class:`~memory.context.ContextBuilder` build bounded by a
deadline), :func:`merge_system` (memory appended to the client's own system prompt, or a new system
message), :func:`provenance_header` (the ``x-hydra-memory`` value) and :func:`quote_answer` (with no chat
model up, the best current fact or passage, quoted with its date and source: never a made-up sentence).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from memory.context import ContextBuilder, ContextItem, MemoryContext
from memory.context_config import ContextConfig
from memory.protocols import MemoryStack
from memory.statements import asks

MEMORY_INTRO = "What you remember about the owner (from Hydra memory; ids in brackets, use it when it helps):"
_CONTINUE = re.compile(
    r"^\s*(?:where was i (?:with|on|at)|where did i leave (?:off )?(?:with|on)?|continue(?: with| working on)?|"
    r"let'?s continue(?: with)?|pick up(?: where i left off)?(?: with| on)?)\s+(?P<subject>.+?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9]+")
_DATE = re.compile(r"^\((?P<date>\d{4}-\d{2}-\d{2}), (?P<source>[^)]*)\) (?P<text>.*)$", re.DOTALL)
QUERY_MAX_CHARS = 2000
"""The most of a turn memory is searched for (an embedder reads ~256 tokens; BM25 wants the words asked)."""
_PREFERENCES = "core:preferences"
_BLOCK_VALUE = re.compile(r"<value>\n(.*)\n</value>", re.DOTALL)  # the block as render_block lays it out
_PREF_LINE = re.compile(r"^\s*[a-z0-9_]+:\s*\S")  # a "key: value" line (MemoryWriter.record_preference)
_QUESTION_STOP = frozenset(
    "a an and are as at be did do does for from had has have how i in is it me my of on or the to was were "
    "what when where which who why with you your use used using now currently current"
    # words of asking, not of what is asked about ("what did I say about Helix?" is about Helix)
    " about know tell say said remember think hi hello hey thanks please favourite favorite".split()
)


def message_text(message: dict[str, Any]) -> str:
    """A chat message's text: a string content, or the text parts of a list content."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def last_user_text(messages: Sequence[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return message_text(m)
    return ""


def conversation_id(header: str | None, user: str | None, messages: Sequence[dict[str, Any]]) -> str:
    """The conversation a turn belongs to: the client's ``x-hydra-conversation`` header, else the OpenAI
    ``user`` field, else a stable hash of the conversation's first user turn (the same chat, resent with
    more turns by a client such as Open WebUI, keeps its id)."""
    if header and header.strip():
        return header.strip()[:128]
    if user and user.strip():
        return "user:" + user.strip()[:120]
    first = next((message_text(m) for m in messages if m.get("role") == "user"), "")
    return "c-" + hashlib.sha256(first.encode()).hexdigest()[:16]


def continuity_subject(text: str) -> str | None:
    """``"Where was I with the visual novel?"`` / ``"continue Starfall"`` -> the project asked about."""
    m = _CONTINUE.match(text)
    return m.group("subject").strip() if m else None


def memory_query(text: str, max_chars: int = QUERY_MAX_CHARS) -> str:
    """What memory is searched for: the turn itself, or for a turn of a pasted document or log, its start and
    its end (where the question usually is). The whole of a megabyte turn went to the memory node as one bus
    message over its max payload (a 500), and assembling for it took seconds, while another client's chat
    lost its memory to the 300 ms deadline."""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return f"{text[:half]}\n…\n{text[-half:]}"


async def assemble(stack: MemoryStack, config: ContextConfig, query: str, *, deadline_s: float,
                   budget: int | None = None) -> MemoryContext:
    """The context for ``query``, within ``deadline_s`` (TimeoutError past it; the caller degrades).

    A continuity question ("where was I with X?") searches for X itself, newest conversations first,
    so the last conversations about the project come with its ``projects`` block line."""
    subject = continuity_subject(query)
    async with asyncio.timeout(deadline_s):
        built = await ContextBuilder(stack, config).build(subject or memory_query(query), budget=budget)
    if subject is None:
        return built
    passages = sorted((i for i in built.items if i.kind == "passage"), key=lambda i: i.text, reverse=True)
    for n, item in enumerate(passages, 1):  # "(YYYY-MM-DD, source) text": newest first
        passages[n - 1] = item.model_copy(update={"rank": n, "why": f"{item.why}; a recent conversation about "
                                                                    f"{subject!r} (continuity question)"})
    others = [i for i in built.items if i.kind != "passage"]
    return built.model_copy(update={"query": query, "items": others + passages})


def merge_system(messages: list[dict[str, Any]], memory_text: str) -> list[dict[str, Any]]:
    """The messages with memory in the system message: appended to the client's own system prompt (Open
    WebUI sends one), else as a new first system message. The client's list is not changed."""
    block = f"{MEMORY_INTRO}\n{memory_text}"
    out = list(messages)
    if out and out[0].get("role") in ("system", "developer"):
        own = message_text(out[0])
        out[0] = {**out[0], "content": f"{own}\n\n{block}" if own else block}
    else:
        out.insert(0, {"role": "system", "content": block})
    return out


def provenance_header(ctx: MemoryContext, max_chars: int = 512) -> str:
    """``x-hydra-memory``: the ids injected and the tokens used, cut at ``max_chars`` with a count left."""
    ids = [i.id for i in ctx.items]
    tail = f"; tokens={ctx.used}"
    out: list[str] = []
    size = len("ids=") + len(tail)
    for n, pid in enumerate(ids):
        more = f";+{len(ids) - n} more"
        if size + len(pid) + 1 + len(more) > max_chars:
            return "ids=" + ",".join(out) + more + tail
        out.append(pid)
        size += len(pid) + 1
    return "ids=" + ",".join(out) + tail


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _QUESTION_STOP and len(w) > 1}


def _stem(words: set[str]) -> set[str]:
    return {w[:5] for w in words}


def best_memory(ctx: MemoryContext) -> ContextItem | None:
    """The item that best answers a question about the owner's own memory, without a model: a current
    fact, a ``preferences`` line or a passage sharing a content word with the question; None when
    nothing does (memory holds nothing about it)."""
    q = _stem(_words(ctx.query))
    facts = [i for i in ctx.items if i.kind == "fact" and "until" not in i.text and q & _stem(_words(i.text))]
    if facts:
        return facts[0]
    # facts come only for entities the question names, and "what editor do I use?" names none: the
    # preferences block holds the owner's current preferences, so a line of it beats an older passage
    if pref := _preference_line(ctx, q):
        return pref
    # only a passage that shares a content word with the question is about it: the top passage of a
    # question memory knows nothing about ("what's my name?", "hi") is merely the nearest, and quoting it
    # answers something not asked. An archived question of the owner's states nothing: never the answer.
    return next((i for i in ctx.items if i.kind == "passage" and q & _stem(_words(i.text))
                 and not asks(_said(i.text))), None)


def _said(text: str) -> str:
    """A passage's text without its ``(date, source)`` prefix."""
    m = _DATE.match(text)
    return m.group("text") if m else text


def _preference_line(ctx: MemoryContext, q: set[str]) -> ContextItem | None:
    """The first ``key: value`` line of the ``preferences`` block sharing a word with the question."""
    block = next((i for i in ctx.items if i.id == _PREFERENCES), None)
    if block is None or not (m := _BLOCK_VALUE.search(block.text)):
        return None
    for line in m.group(1).splitlines():
        if _PREF_LINE.match(line) and q & _stem(_words(line)):
            return block.model_copy(update={"text": line.strip()})
    return None


def quote_answer(ctx: MemoryContext) -> str:
    """The answer text with no chat model: a quotation of memory, with its date and source, or a plain
    statement that memory holds nothing on it. It never writes a sentence of its own about the owner."""
    item = best_memory(ctx)
    if item is None:
        return ("No chat model is available, and nothing in memory matches the question, so there is nothing "
                "to quote.")
    if item.kind == "fact":
        return (f"No chat model is available; quoting memory. Known fact [{item.id}]: \"{item.text}\".")
    m = _DATE.match(item.text)
    if m is None:
        return f"No chat model is available; quoting memory [{item.id}]: \"{item.text}\"."
    return (f"No chat model is available; quoting memory [{item.id}], said on {m.group('date')} "
            f"(source: {m.group('source')}): \"{m.group('text')}\".")


def completion(model: str, content: str, now: datetime, response_id: str) -> bytes:
    """An OpenAI chat completion object carrying ``content`` (the no-model memory answer)."""
    body = {
        "id": response_id, "object": "chat.completion", "created": int(now.timestamp()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
    return json.dumps(body).encode()


def completion_stream(model: str, content: str, now: datetime, response_id: str) -> list[bytes]:
    """The same answer as SSE chunks (a client that asked for ``stream``)."""
    base = {"id": response_id, "object": "chat.completion.chunk", "created": int(now.timestamp()), "model": model}
    first = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": content},
                                  "finish_reason": None}]}
    last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    return [b"data: " + json.dumps(first).encode() + b"\n\n", b"data: " + json.dumps(last).encode() + b"\n\n",
            b"data: [DONE]\n\n"]
