"""The task record kept in ``hydra_tasks`` (key ``task.<id>``) and the spec a caller enqueues.

States::

    pending ──(due, window open)──> queued ──(worker takes it)──> running ──> succeeded
       ^                              ^                              │  └───> failed (max_failures reached)
       └──(window closed / not due)───┴──── retrying <──(failure)────┘
    any non-terminal state ──(cancel)──> cancelled;   failed/cancelled ──(retry)──> queued

``pending`` tasks are not in the stream (they sit in the pending set until due); ``queued``,
``running`` and ``retrying`` tasks have a message on ``HYDRA_TASKS``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hydra_os.sections.kinds import kind_problem
from hydra_os.tasks.errors import InvalidTaskError

TaskState = Literal["pending", "queued", "running", "retrying", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE: frozenset[str] = frozenset({"pending", "queued", "running", "retrying"})
PRIORITIES = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
PRIORITY_NAMES = {v: k for k, v in PRIORITIES.items()}
WINDOWS = ("overnight",)
MAX_PARAMS_BYTES = 64 * 1024
MAX_HISTORY = 50

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def check_kind(kind: str) -> str:
    if problem := kind_problem(kind):
        raise InvalidTaskError(problem)
    return kind


def new_task_id() -> str:
    return uuid.uuid4().hex[:16]


def parse_priority(value: int | str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3:
        return value
    if isinstance(value, str):
        if value.lower() in PRIORITIES:
            return PRIORITIES[value.lower()]
        if value.isdigit() and 0 <= int(value) <= 3:
            return int(value)
    raise InvalidTaskError(f"priority: got {value!r}, expected one of low, normal, high, urgent (or 0-3)")


class HistoryEntry(BaseModel):
    ts: float = Field(default_factory=time.time)
    event: str
    node: str | None = None
    detail: str | None = None


LATEST_TIME = 253402300799.0  # 9999-12-31T23:59:59Z: later ones are not dates Python (or anyone) can show


class TaskSpec(BaseModel):
    """What a caller asks for. Validated on construction; errors name the field."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="Task kind, e.g. 'research.topic'.")
    params: dict[str, Any] = Field(default_factory=dict, description="Parameters for the kind's handler (JSON).")
    priority: int = Field(default=1, description="0 low, 1 normal, 2 high, 3 urgent (or the name).")
    not_before: float | None = Field(
        default=None, ge=0, le=LATEST_TIME, allow_inf_nan=False,
        description="Earliest start, Unix time or ISO 8601 with zone (up to year 9999).",
    )
    window: Literal["overnight"] | None = Field(default=None, description="Only run inside this window.")
    gpu_vram_mb: int = Field(default=0, ge=0, le=10_000_000, description="VRAM the task needs on its node (MB).")
    idempotency_key: str | None = Field(
        default=None, description="Enqueueing the same key again returns the first task instead of a new one."
    )
    max_failures: int | None = Field(default=None, ge=1, le=100, description="Override tasks.max_failures.")
    title: str | None = Field(default=None, max_length=300, description="A one-line description for listings.")
    source: str = Field(default="api", max_length=64, description="Who queued it: cli, api, scheduler, intake.")

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        try:
            return check_kind(v)
        except InvalidTaskError as e:
            raise ValueError(str(e).removeprefix("kind: ")) from None

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, v: Any) -> int:
        try:
            return parse_priority(v)
        except InvalidTaskError:
            raise ValueError("expected one of low, normal, high, urgent (or 0-3)") from None

    @field_validator("not_before", mode="before")
    @classmethod
    def _not_before(cls, v: Any) -> Any:
        if isinstance(v, datetime):
            if v.tzinfo is None:
                raise ValueError("expected a time with a zone")
            return v.timestamp()
        if isinstance(v, str):
            try:
                dt = datetime.fromisoformat(v)
            except ValueError:
                raise ValueError("expected Unix seconds or an ISO 8601 time such as 2025-01-31T22:00+01:00") from None
            if dt.tzinfo is None:
                raise ValueError("expected an ISO 8601 time with a zone, e.g. 2025-01-31T22:00+01:00")
            return dt.timestamp()
        return v

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        try:
            raw = json.dumps(v)
        except (TypeError, ValueError):
            raise ValueError("expected a JSON object") from None
        if len(raw) > MAX_PARAMS_BYTES:
            raise ValueError(f"expected at most {MAX_PARAMS_BYTES} bytes of JSON; store big inputs elsewhere")
        return v

    @field_validator("idempotency_key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is not None and not _KEY.match(v):
            raise ValueError("expected 1-200 printable ASCII characters without spaces")
        return v


class Task(BaseModel):
    """A task's durable record. The KV revision of ``task.<id>`` guards every change (compare-and-set)."""

    id: str
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    priority: int = 1
    not_before: float | None = None
    window: Literal["overnight"] | None = None
    gpu_vram_mb: int = 0
    idempotency_key: str
    max_failures: int | None = None
    title: str | None = None
    source: str = "api"
    state: TaskState = "queued"
    attempts: int = Field(default=0, description="Times a worker started it (crash redeliveries included).")
    failures: int = Field(default=0, description="Times its handler failed.")
    release: int = Field(default=0, description="How often it entered the stream; part of the message id.")
    eligible_at: float | None = Field(default=None, description="Pending: when to look at it again.")
    wait_reason: str | None = None
    worker: str | None = None
    lease_until: float | None = None
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    result: Any = None
    history: list[HistoryEntry] = Field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def note(self, event: str, node: str | None = None, detail: str | None = None) -> None:
        now = time.time()
        self.history.append(HistoryEntry(ts=now, event=event, node=node, detail=detail))
        if len(self.history) > MAX_HISTORY:
            self.history = self.history[:1] + self.history[-(MAX_HISTORY - 1):]
        self.updated_at = now

    def message_id(self) -> str:
        """Nats-Msg-Id of this release: the idempotency key itself for the first one."""
        return self.idempotency_key if self.release == 0 else f"{self.idempotency_key}#r{self.release}"

    @classmethod
    def from_spec(cls, spec: TaskSpec, task_id: str | None = None) -> Task:
        tid = task_id or new_task_id()
        return cls(
            id=tid,
            kind=spec.kind,
            params=spec.params,
            priority=spec.priority,
            not_before=spec.not_before,
            window=spec.window,
            gpu_vram_mb=spec.gpu_vram_mb,
            idempotency_key=spec.idempotency_key or f"task-{tid}",
            max_failures=spec.max_failures,
            title=spec.title,
            source=spec.source,
        )
