"""Chat with a model through an OpenAI-compatible endpoint: by default this cluster's gateway (``hydra/auto``).

:class:`ChatModel` is the seam the intake, the research pipeline, the briefing and memory's extraction
use; :class:`OpenAIChat` implements it over HTTP (httpx). The base URL is resolved on each use (a gateway
node may come and go): ``intake.llm_url`` when set, else the API of a live node with the ``gateway`` role
(this node first). "Available" means the endpoint lists at least one model besides ``hydra/auto`` (the
gateway always lists that one, even with nothing behind it); the answer is cached for a few seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import httpx

from hydra_os.chat.errors import ModelReplyError, ModelUnavailableError

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

    async def close(self) -> None: ...


class OpenAIChat:
    def __init__(self, base_url: str | UrlResolver, *, model: str = AUTO_MODEL, token: str | None = None,
                 timeout_s: float = 120.0, probe_timeout_s: float = 3.0, cache_s: float = 5.0) -> None:
        self._resolve: UrlResolver = (lambda: base_url) if isinstance(base_url, str) else base_url
        self.model = model
        self.cache_s = cache_s
        self.probe_timeout_s = probe_timeout_s
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

    async def chat(self, messages: list[dict[str, str]], *, max_tokens: int | None = None,
                   temperature: float = 0.2, json_schema: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {**json_schema, "strict": True}}
        url = self._base() + "/chat/completions"
        self.calls += 1
        try:
            r = await self._http.post(url, json=body)
        except httpx.HTTPError as e:
            self._avail = None
            raise ModelUnavailableError(f"chat endpoint {url} unreachable: {type(e).__name__}") from None
        if r.status_code in (408, 429) or r.status_code >= 500:
            self._avail = None
            raise ModelUnavailableError(f"chat endpoint {url} answered HTTP {r.status_code}: {_detail(r)}")
        if r.status_code != 200:
            raise ModelReplyError(f"chat endpoint {url} refused the request: HTTP {r.status_code}: {_detail(r)}")
        try:
            content = r.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelReplyError(f"chat endpoint {url} sent no chat completion") from None
        if not isinstance(content, str) or not content.strip():
            raise ModelReplyError(f"chat endpoint {url} sent an empty reply")
        return content.strip()

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


def _detail(r: httpx.Response) -> str:
    try:
        err = r.json().get("error")
        if isinstance(err, dict):
            return str(err.get("message", ""))[:200]
    except (ValueError, AttributeError):
        pass
    return r.text[:200]
