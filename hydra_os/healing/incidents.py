"""Incidents: one per root cause, with first/last seen, every action with its decision, the outcome.

Kept in memory and in ``<state_dir>/healing/incidents.json`` (replaced atomically, so a crash
mid-write leaves the previous file). A root cause that comes back within ``reopen_window_s`` of
being resolved reopens its incident (``occurrences`` counts), so a service that keeps crashing is
one incident, not one per crash.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, Field, TypeAdapter

from hydra_os.healing.model import Issue, Severity
from hydra_os.policy.model import Action, Outcome


class IncidentAction(BaseModel):
    ts: float
    fixup: str
    kind: str
    target: str
    action_hash: str
    level: str
    rule_id: str
    reason: str
    guard: str | None = None
    status: str
    error: str | None = None
    approval_id: str | None = None
    result: dict[str, Any] | None = None


class Incident(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    root: str
    check: str
    summary: str
    severity: Severity = Severity.CRITICAL
    dependents: list[str] = Field(default_factory=list)
    first_seen: float
    last_seen: float
    status: Literal["open", "resolved"] = "open"
    resolved_at: float | None = None
    occurrences: int = 1
    actions: list[IncidentAction] = Field(default_factory=list)
    outcome: str | None = None
    escalated: bool = False
    suppressed: bool = False
    retry_at: float | None = None
    pending_since: float | None = None

    def failures_of(self, fixup: str) -> int:
        """Failed executions of ``fixup`` in a row, most recent first."""
        n = 0
        for a in reversed(self.actions):
            if a.fixup != fixup:
                continue
            if a.status != "failed":
                break
            n += 1
        return n


_LIST = TypeAdapter(list[Incident])


class IncidentStore:
    def __init__(self, path: Path | None, *, keep: int = 500, reopen_window_s: float = 600.0) -> None:
        self.path = path
        self.keep = keep
        self.reopen_window_s = reopen_window_s
        self._items: dict[str, Incident] = {}
        if path is not None and path.exists():
            try:
                for inc in _LIST.validate_json(path.read_bytes()):
                    self._items[inc.id] = inc
            except ValueError as e:
                logger.warning("ignoring unreadable incident file {}: {}", path, e)

    def all(self) -> list[Incident]:
        return sorted(self._items.values(), key=lambda i: i.first_seen)

    def get(self, incident_id: str) -> Incident | None:
        return self._items.get(incident_id)

    def open_incidents(self) -> list[Incident]:
        return [i for i in self.all() if i.status == "open"]

    def find_open(self, root: str) -> Incident | None:
        for i in self._items.values():
            if i.status == "open" and i.root == root:
                return i
        return None

    def observe(self, issue: Issue, dependents: list[str], now: float) -> tuple[Incident, bool]:
        """The open incident for ``issue.target`` (opened or reopened if needed); True if new/reopened."""
        root = str(issue.target)  # persisted as its string form (files written before Target read the same)
        inc = self.find_open(root)
        fresh = False
        if inc is None:
            recent = [i for i in self._items.values() if i.root == root and i.resolved_at is not None
                      and now - i.resolved_at <= self.reopen_window_s]
            if recent:
                inc = max(recent, key=lambda i: i.resolved_at or 0)
                inc.status, inc.resolved_at, inc.outcome = "open", None, None
                inc.occurrences += 1
            else:
                inc = Incident(root=root, check=issue.check, summary=issue.summary,
                               severity=issue.severity, first_seen=now, last_seen=now)
                self._items[inc.id] = inc
            fresh = True
        inc.last_seen = now
        inc.summary = issue.summary
        inc.severity = issue.severity
        inc.dependents = sorted(set(inc.dependents) | set(dependents))
        return inc, fresh

    def record(self, inc: Incident, fixup: str, action: Action, out: Outcome) -> IncidentAction:
        d = out.decision
        entry = IncidentAction(
            ts=time.time(), fixup=fixup, kind=action.kind, target=action.target,
            action_hash=action.content_hash(), level=d.level.value, rule_id=d.rule_id, reason=d.reason,
            guard=d.guard, status=out.status.value, error=out.error, approval_id=out.approval_id,
            result=out.result,
        )
        inc.actions.append(entry)
        return entry

    def by_action(self, action_hash: str) -> Incident | None:
        """The most recent incident that submitted this exact action."""
        for inc in sorted(self._items.values(), key=lambda i: i.last_seen, reverse=True):
            if any(a.action_hash == action_hash for a in inc.actions):
                return inc
        return None

    def resolve(self, inc: Incident, now: float, outcome: str) -> None:
        inc.status, inc.resolved_at, inc.outcome = "resolved", now, outcome
        inc.retry_at = None
        inc.pending_since = None

    def save(self) -> None:
        if self.path is None:
            return
        items = self.all()
        resolved = [i for i in items if i.status == "resolved"]
        drop = {i.id for i in resolved[: max(0, len(resolved) - self.keep)]}
        for i in drop:
            self._items.pop(i, None)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([i.model_dump(mode="json") for i in self.all()], indent=1))
        os.replace(tmp, self.path)
