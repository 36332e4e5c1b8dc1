"""Telling the owner: ntfy (JSON publish over HTTP), a webhook (JSON POST), or a log file (default).

The healer sends INFORM_AFTER outcomes and escalations here; the morning briefing reuses it. A
:class:`Notifier` has one coroutine, ``send``; :func:`build_notifier` picks the backend from the
``notify`` config section. Delivery failures raise :class:`NotifyError`
(callers log them and carry on: a notifier being down never stops healing). Secrets (the ntfy
access token, a webhook bearer token) come from files and are never logged.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hydra_os.durations import Seconds
from hydra_os.errors import HydraError
from hydra_os.secrets import read_optional_secret


class NotifyError(HydraError):
    """A notification could not be delivered (the notifier is unreachable or refused it): HTTP 502."""

    http_status = 502
    code = "notify_failed"


Priority = Literal["min", "low", "default", "high", "urgent"]
_NTFY_PRIORITY = {"min": 1, "low": 2, "default": 3, "high": 4, "urgent": 5}


class NotifyAction(BaseModel):
    """A button under the notification. ntfy's ``http`` action POSTs to ``url`` from the phone without
    opening a browser (the approval links of :mod:`hydra_os.policy.approval_links`); ``view`` opens ``url``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(min_length=1, max_length=40)
    url: str = Field(pattern=r"^https?://")
    kind: Literal["http", "view"] = "http"


class Notification(BaseModel):
    """One message to the owner."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=250, description="Short headline.")
    message: str = Field(min_length=1, description="The body, plain text.")
    priority: Priority = Field(default="default", description="ntfy-style priority.")
    tags: list[str] = Field(default_factory=list, description="Short labels (ntfy shows them as emoji/tags).")
    data: dict[str, Any] = Field(
        default_factory=dict, description="Structured details (incident id, action)."
    )
    ts: float = Field(default_factory=time.time)
    actions: list[NotifyAction] = Field(default_factory=list, max_length=3, description="Buttons (ntfy: 3 at most).")


class NotifyConfig(BaseModel):
    """``[notify]``: where notifications go."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: Literal["log", "ntfy", "webhook"] = Field(
        default="log", description="Backend: 'log' (JSON lines file), 'ntfy' or 'webhook'."
    )
    log_path: Path | None = Field(
        default=None,
        description="Log backend: file to append JSON lines to; default <state_dir>/notifications.log.",
    )
    url: str | None = Field(
        default=None,
        description="ntfy: server base URL (e.g. https://ntfy.sh); webhook: the URL receiving the POST.",
    )
    topic: str | None = Field(default=None, description="ntfy: the topic to publish to.")
    token_file: Path | None = Field(
        default=None,
        description="File with a bearer token (ntfy access token tk_..., or the webhook's token).",
    )
    timeout: Seconds = Field(default=5.0, description="Seconds to wait for the HTTP receiver.")

    @model_validator(mode="after")
    def _check(self) -> NotifyConfig:
        if self.kind in ("ntfy", "webhook"):
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError(f"notify.url: kind {self.kind!r} needs an http(s) URL, got {self.url!r}")
        if self.kind == "ntfy" and not self.topic:
            raise ValueError("notify.topic: kind 'ntfy' needs a topic")
        return self


@runtime_checkable
class Notifier(Protocol):
    """Delivers one notification; raises NotifyError when it cannot."""

    name: str

    async def send(self, note: Notification) -> None: ...


class LogFileNotifier:
    """Appends one JSON line per notification (the default; journald/briefing can read it)."""

    name = "log"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, note: Notification) -> None:
        line = note.model_dump_json() + "\n"

        def write() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)

        try:
            await asyncio.to_thread(write)
        except OSError as e:
            raise NotifyError(f"cannot write notification to {self.path}: {e.strerror}") from None

    def read(self) -> list[Notification]:
        """Everything written so far (for the briefing and for ``hydra heal`` output)."""
        if not self.path.exists():
            return []
        out = []
        for raw in self.path.read_text(encoding="utf-8").splitlines():
            if raw.strip():
                out.append(Notification.model_validate_json(raw))
        return out


class _HttpNotifier:
    name = "http"

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout

    async def _post(self, url: str, payload: dict[str, Any]) -> None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                r = await client.post(url, json=payload, headers=self._headers)
        except httpx.HTTPError as e:
            raise NotifyError(f"{self.name} at {url} unreachable: {type(e).__name__}: {e}") from None
        if r.status_code >= 300:
            raise NotifyError(f"{self.name} at {url} refused the notification: HTTP {r.status_code}")


class NtfyNotifier(_HttpNotifier):
    """ntfy's JSON publishing: POST to the server root with ``{"topic", "title", "message", ...}``."""

    name = "ntfy"

    def __init__(self, url: str, topic: str, token: str | None, timeout: float) -> None:
        super().__init__(url.rstrip("/") + "/", token, timeout)
        self.topic = topic

    async def send(self, note: Notification) -> None:
        await self._post(
            self.url,
            {
                "topic": self.topic,
                "title": note.title,
                "message": note.message,
                "priority": _NTFY_PRIORITY[note.priority],
                "tags": note.tags,
                **({"actions": [_ntfy_action(a) for a in note.actions]} if note.actions else {}),
            },
        )


def _ntfy_action(a: NotifyAction) -> dict[str, Any]:
    """ntfy's JSON action: an ``http`` button POSTs (no body) and clears the notification on success."""
    if a.kind == "view":
        return {"action": "view", "label": a.label, "url": a.url}
    return {"action": "http", "label": a.label, "url": a.url, "method": "POST", "clear": True}


class WebhookNotifier(_HttpNotifier):
    """POSTs the whole notification as JSON."""

    name = "webhook"

    async def send(self, note: Notification) -> None:
        await self._post(self.url, json.loads(note.model_dump_json()))


def build_notifier(config: NotifyConfig, state_dir: Path) -> Notifier:
    """The configured backend. Reads the token file now, so a bad path fails at startup."""
    token = read_optional_secret(config.token_file, "notify token")
    if config.kind == "ntfy":
        assert config.url and config.topic  # checked by NotifyConfig
        return NtfyNotifier(config.url, config.topic, token, config.timeout)
    if config.kind == "webhook":
        assert config.url
        return WebhookNotifier(config.url, token, config.timeout)
    return LogFileNotifier(config.log_path or state_dir / "notifications.log")
