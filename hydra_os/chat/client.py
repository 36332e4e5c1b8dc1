"""Chat with a model through an OpenAI-compatible endpoint: by default this cluster's gateway (``hydra/auto``).

:class:`ChatModel` is the seam the intake, the research pipeline, the briefing and memory's extraction
use; :class:`OpenAIChat` implements it over HTTP (httpx). The base URL is resolved on each use (a gateway
node may come and go): ``intake.llm_url`` when set, else the API of a live node with the ``gateway`` role
(this node first). "Available" means the endpoint lists at least one model besides ``hydra/auto`` (the
gateway always lists that one, even with nothing behind it); the answer is cached for a few seconds.

:meth:`OpenAIChat.chat_stream` is the same call with ``stream: true``: the answer's text as the model
writes it, read from the server-sent events (``data:`` chunks up to ``data: [DONE]``) with httpx-sse.
It is bounded by a connect timeout and an idle timeout between chunks (not a total: a long answer
that keeps coming is fine); an error event (the gateway's ``{"error": ...}`` when an engine breaks
off), a cut connection or a stream that ends before ``[DONE]`` raise the same :mod:`hydra_os.chat.errors`
as a whole call.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, runtime_checkable

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse

from hydra_os.chat.errors import ChatError, ModelReplyError, ModelUnavailableError

AUTO_MODEL = "hydra/auto"
UrlResolver = Callable[[], str | None]


@runtime_checkable
class ChatModel(Protocol):
    async def available(self) -> bool:
        """True when a chat call can be expected to reach a model."""
        ...

    async def chat(self, messages: list[dict[str, str]], *, max_tokens: int | None = None,
                   temperature: float = 0.2, json_schema: dict[str, Any] | None = None) -> str:
        """The assistant's reply text. With ``json_schema`` (``{"name", "schema"}``) the reply is JSON text."""
        ...

    def chat_stream(self, messages: list[dict[str, str]], *, max_tokens: int | None = None,
                    temperature: float = 0.2) -> AsyncIterator[str]:
        """The reply's text in pieces as the model writes them; ends after the whole reply."""
        ...

    async def close(self) -> None: ...


class OpenAIChat:
    def __init__(self, base_url: str | UrlResolver, *, model: str = AUTO_MODEL, token: str | None = None,
                 timeout_s: float = 120.0, probe_timeout_s: float = 3.0, cache_s: float = 5.0,
                 connect_timeout_s: float = 10.0, idle_timeout_s: float = 60.0) -> None:
        self._resolve: UrlResolver = (lambda: base_url) if isinstance(base_url, str) else base_url
        self.model = model
        self.cache_s = cache_s
        self.probe_timeout_s = probe_timeout_s
        # a stream: connecting is bounded on its own, then each wait for the next chunk (httpx's read timeout)
        self.stream_timeout = httpx.Timeout(idle_timeout_s, connect=connect_timeout_s)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(timeout=timeout_s, headers=headers)
        self._avail: tuple[float, bool] | None = None
        self.calls = 0

    def _base(self) -> str:
        base = self._resolve()
        if not base:
            raise ModelUnavailableError(
                "no chat endpoint: no live node has the gateway role and intake.llm_url is unset")
        return base.rstrip("/")

    async def available(self) -> bool:
        now = time.monotonic()
        if self._avail is not None and now - self._avail[0] < self.cache_s:
            return self._avail[1]
        ok = False
        try:
            r = await self._http.get(self._base() + "/models", timeout=self.probe_timeout_s)
            if r.status_code == 200:
                # the gateway's memory-aware names (owned_by hydra-memory) are no model of their own
                ids = {str(m.get("id")) for m in r.json().get("data", [])
                       if isinstance(m, dict) and m.get("owned_by") != "hydra-memory"}
                ok = bool(ids - {AUTO_MODEL}) if self.model == AUTO_MODEL else self.model in ids
        except (httpx.HTTPError, ValueError, AttributeError, ModelUnavailableError):
            ok = False
        self._avail = (now, ok)
        return ok

    def _body(self, messages: list[dict[str, str]], max_tokens: int | None, temperature: float) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return body

    def _refused(self, url: str, r: httpx.Response) -> ChatError | None:
        """The error for an answer that is no completion (None for 200)."""
        if r.status_code in (408, 429) or r.status_code >= 500:
            self._avail = None
            return ModelUnavailableError(f"chat endpoint {url} answered HTTP {r.status_code}: {_detail(r)}")
        if r.status_code != 200:
            return ModelReplyError(f"chat endpoint {url} refused the request: HTTP {r.status_code}: {_detail(r)}")
        return None

    async def chat(self, messages: list[dict[str, str]], *, max_tokens: int | None = None,
                   temperature: float = 0.2, json_schema: dict[str, Any] | None = None) -> str:
        body = self._body(messages, max_tokens, temperature)
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {**json_schema, "strict": True}}
        url = self._base() + "/chat/completions"
        self.calls += 1
        try:
            r = await self._http.post(url, json=body)
        except httpx.HTTPError as e:
            self._avail = None
            raise ModelUnavailableError(f"chat endpoint {url} unreachable: {type(e).__name__}") from None
        if (refused := self._refused(url, r)) is not None:
            raise refused
        try:
            content = r.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelReplyError(f"chat endpoint {url} sent no chat completion") from None
        if not isinstance(content, str) or not content.strip():
            raise ModelReplyError(f"chat endpoint {url} sent an empty reply")
        return content.strip()

    async def chat_stream(self, messages: list[dict[str, str]], *, max_tokens: int | None = None,
                          temperature: float = 0.2) -> AsyncIterator[str]:
        body = {**self._body(messages, max_tokens, temperature), "stream": True}
        url = self._base() + "/chat/completions"
        self.calls += 1
        said = False
        try:
            async with aconnect_sse(self._http, "POST", url, json=body, timeout=self.stream_timeout) as source:
                if source.response.status_code != 200:
                    await source.response.aread()
                    raise self._refused(url, source.response) or ModelReplyError(f"chat endpoint {url} failed")
                async for event in source.aiter_sse():
                    piece = _piece(url, event)
                    if piece is None:
                        if not said:
                            raise ModelReplyError(f"chat endpoint {url} sent an empty reply")
                        return
                    if piece:
                        said = said or bool(piece.strip())
                        yield piece
        except httpx.HTTPError as e:  # refused, cut or silent past the idle timeout
            self._avail = None
            raise ModelUnavailableError(f"chat endpoint {url} broke off the answer: {type(e).__name__}") from None
        except SSEError:
            raise ModelReplyError(f"chat endpoint {url} did not answer with an event stream") from None
        self._avail = None
        raise ModelUnavailableError(f"chat endpoint {url} ended the answer before it was complete (no [DONE])")

    async def close(self) -> None:
        await self._http.aclose()


async def ask_json(model: ChatModel, messages: list[dict[str, str]], schema: dict[str, Any],
                   max_tokens: int | None = None) -> dict[str, Any]:
    """``chat`` with a JSON schema, parsed; raises :class:`ModelReplyError` on anything but a JSON object."""
    text = await model.chat(messages, json_schema=schema, temperature=0.0, max_tokens=max_tokens)
    return parse_json_object(text)


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object in a model reply (tolerating a ```json fence around it)."""
    s = text.strip()
    if s.startswith("```"):
        s = s.split("\n", 1)[1] if "\n" in s else ""
        s = s.rsplit("```", 1)[0]
    try:
        value = json.loads(s)
    except ValueError:
        raise ModelReplyError(f"the model's reply is not JSON: {text[:120]!r}") from None
    if not isinstance(value, dict):
        raise ModelReplyError("the model's reply is JSON but not an object")
    return value


def _piece(url: str, event: ServerSentEvent) -> str | None:
    """The text one event of a chat stream adds ('' for none); None at ``[DONE]``."""
    if event.data.strip() == "[DONE]":
        return None
    try:
        chunk = json.loads(event.data)
    except ValueError:
        raise ModelReplyError(f"chat endpoint {url} sent an event that is not JSON: {event.data[:120]!r}") from None
    if isinstance(chunk, dict) and "error" in chunk:
        err = chunk["error"]
        message = err.get("message") if isinstance(err, dict) else err
        raise ModelUnavailableError(f"chat endpoint {url} broke off the answer: {str(message)[:200]}")
    try:
        piece = chunk["choices"][0]["delta"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""  # a usage-only chunk (stream_options.include_usage) or a role-only delta
    return piece if isinstance(piece, str) else ""


def _detail(r: httpx.Response) -> str:
    try:
        err = r.json().get("error")
        if isinstance(err, dict):
            return str(err.get("message", ""))[:200]
    except (ValueError, AttributeError):
        pass
    return r.text[:200]
