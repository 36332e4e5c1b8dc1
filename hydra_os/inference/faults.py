"""Whose fault is an upstream error answer: the request's or the endpoint's. One rule, one table.

A request the engine cannot serve (an image part sent to a text-only llama-server, a prompt over its
context, a parameter it does not support) must go back to that client and must not take the endpoint
out of rotation for everyone else. Engines do not agree on status codes for these: llama.cpp answers
500 for an image part without an mmproj, 501 ``not_supported_error`` for features it lacks, 400
``exceed_context_size_error`` for long prompts; vLLM answers 400 (older versions with a top-level
``{"object": "error", "type": "BadRequestError"}``, newer ones with OpenAI's ``{"error": {...}}``).
So the body decides when it says so; the status decides otherwise.

The rule (docs/inference.md shows it as a table):

- 2xx: the answer.
- 429 (busy): the next endpoint, no cooldown.
- any other 4xx (request): the answer goes to the client unchanged; the endpoint stays.
- 5xx whose error names a request fault, by its ``type`` (``_REQUEST_TYPES``) or its words
  (``_REQUEST_WORDS``: not supported, exceeds the context, invalid ...) (request): the client gets
  400 ``invalid_request_error`` with the upstream's message (``context_length_exceeded`` when it is
  about the context); the endpoint stays.
- any other 5xx (endpoint): the next endpoint; this one cools after ``router.cool_after_5xx`` such
  answers in a row (different requests; a success resets the count).
- connect errors, timeouts, connections closed before the first byte (not answers, so not judged
  here): the next endpoint; this one cools at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Blame(StrEnum):
    REQUEST = "request"  # the client's request is at fault: answer it, keep the endpoint
    ENDPOINT = "endpoint"  # the endpoint failed: try the next one, count it towards a cooldown
    BUSY = "busy"  # the endpoint is full: try the next one, no cooldown


@dataclass(frozen=True, slots=True)
class Verdict:
    blame: Blame
    message: str  # the upstream's own error message ("" when it sent none we could read)
    context: bool = False  # the message is about the prompt not fitting the context


# error ``type`` values engines use for a bad request (OpenAI, llama.cpp, vLLM)
_REQUEST_TYPES = frozenset({
    "invalid_request_error", "not_supported_error", "exceed_context_size_error",  # OpenAI, llama.cpp
    "BadRequestError", "NotFoundError", "NotImplementedError", "ValueError",  # vLLM (exception names)
})
# words of an error message that put the request at fault, whatever the status
_REQUEST_WORDS = re.compile(
    r"not supported|unsupported|does not support|exceeds? (?:the )?(?:available |maximum )?context|"
    r"context (?:length|size|window)|too (?:long|large|many)|longer than the maximum|\binvalid\b|\bmmproj\b|"
    r"must (?:be|not)|is required|unknown (?:field|parameter|argument)",
    re.IGNORECASE,
)
_CONTEXT_WORDS = re.compile(r"context|too long|maximum .*tokens|exceeds? .*tokens|maximum model length",
                            re.IGNORECASE)
_READ_AT_MOST = 64 * 1024  # an error body longer than this is not one of the shapes above


def error_of(body: bytes) -> tuple[str, str]:
    """``(type, message)`` of an OpenAI/vLLM/llama.cpp error body; ``("", "")`` when it is none of them."""
    try:
        doc: Any = json.loads(body[:_READ_AT_MOST])
    except (ValueError, UnicodeDecodeError):
        return "", body[:300].decode("utf-8", "replace").strip()
    if not isinstance(doc, dict):
        return "", ""
    err = doc.get("error")
    if isinstance(err, dict):  # OpenAI, llama.cpp, newer vLLM
        doc = err
    elif isinstance(err, str):  # some servers: {"error": "message"}
        return "", err
    kind, msg = doc.get("type"), doc.get("message") or doc.get("detail")
    if msg is not None and not isinstance(msg, str):  # FastAPI's 422: a list of field errors
        msg = json.dumps(msg)[:300]
    return (kind if isinstance(kind, str) else ""), msg or ""


def judge(status: int, body: bytes) -> Verdict:
    """Whose fault an error answer (``status >= 400``) is; see the module's table."""
    kind, message = error_of(body)
    context = bool(message and _CONTEXT_WORDS.search(message)) or kind == "exceed_context_size_error"
    if status == 429:
        return Verdict(Blame.BUSY, message)
    if status < 500:
        return Verdict(Blame.REQUEST, message, context)
    if kind in _REQUEST_TYPES or (message and _REQUEST_WORDS.search(message)):
        return Verdict(Blame.REQUEST, message, context)
    return Verdict(Blame.ENDPOINT, message)
