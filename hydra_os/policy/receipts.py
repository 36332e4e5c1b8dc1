"""Receipts: every decision, execution and outcome as an event on ``HYDRA_EVENTS``.

Written through the node's :class:`~hydra_os.events.EventLog`, so each carries the hash of the
node's previous event (``hydra audit verify`` checks the chain). Event types:

==========================  ==============================================================
``policy.decided``          an action and the decision on it (level, rule, reason, guard)
``policy.executing``        an executor starts (after AUTONOMOUS/INFORM_AFTER or approval)
``policy.outcome``          what happened: succeeded/failed/refused/deferred/suppressed/pending
``approval.requested``      an ASK_FIRST action was parked (approval id, expiry)
``approval.approved``       the owner approved it (by whom); ``approval.denied``/``.expired`` alike
``policy.reloaded``         a new policy file version took effect; ``policy.reload_failed`` kept the old
==========================  ==============================================================

When the bus is unreachable (the healer may be restarting it), the event log keeps receipts in its
durable outbox and sends them, still chained, when it is back. Only a receipt the outbox could not
take (a disk error) waits here in memory, in order (``flush()``, also tried before every new
receipt); at most ``max_queued`` wait, older ones beyond that are dropped and counted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import nats.errors
from loguru import logger

from hydra_os.errors import BusError
from hydra_os.events import Event, EventLog
from hydra_os.policy.model import Action, Decision, Outcome

DECIDED = "policy.decided"
EXECUTING = "policy.executing"
OUTCOME = "policy.outcome"
APPROVAL_REQUESTED = "approval.requested"
APPROVAL_APPROVED = "approval.approved"
APPROVAL_DENIED = "approval.denied"
APPROVAL_EXPIRED = "approval.expired"
RELOADED = "policy.reloaded"
RELOAD_FAILED = "policy.reload_failed"

APPROVAL_EVENTS = {"approved": APPROVAL_APPROVED, "denied": APPROVAL_DENIED, "expired": APPROVAL_EXPIRED}


def _action(action: Action) -> dict[str, Any]:
    return {**action.model_dump(mode="json"), "hash": action.content_hash()}


_PUBLISH_ERRORS = (nats.errors.Error, BusError, OSError, asyncio.TimeoutError)


class Receipts:
    def __init__(self, events: EventLog, max_queued: int = 10_000) -> None:
        self.events = events
        self.max_queued = max_queued
        self.queued: deque[tuple[str, dict[str, Any]]] = deque()
        self.dropped = 0
        self._lock = asyncio.Lock()

    async def flush(self) -> bool:
        """Publish queued receipts in order; True when none is left."""
        async with self._lock:
            return await self._flush()

    async def _flush(self) -> bool:
        while self.queued:
            type_, data = self.queued[0]
            try:
                await self.events.publish(type_, data)
            except _PUBLISH_ERRORS as e:
                logger.debug("receipt still queued: {}", e)
                return False
            self.queued.popleft()
        return not self.queued

    async def _publish(self, type_: str, data: dict[str, Any]) -> Event | None:
        async with self._lock:
            if await self._flush():
                try:
                    return await self.events.publish(type_, data)
                except _PUBLISH_ERRORS as e:
                    logger.warning("bus unavailable, queueing receipt {}: {}", type_, e)
            if len(self.queued) >= self.max_queued:
                self.queued.popleft()
                self.dropped += 1
            self.queued.append((type_, data))
            return None

    async def decided(self, action: Action, decision: Decision) -> Event | None:
        return await self._publish(
            DECIDED, {"action": _action(action), "decision": decision.model_dump(mode="json")}
        )

    async def executing(self, action: Action, decision: Decision, approval_id: str | None = None) -> Event | None:
        return await self._publish(EXECUTING, {
            "action_hash": action.content_hash(), "kind": action.kind, "target": action.target,
            "level": decision.level.value, "approval_id": approval_id,
        })

    async def outcome(self, outcome: Outcome, duration_s: float | None = None) -> Event | None:
        return await self._publish(OUTCOME, {
            "action_hash": outcome.action.content_hash(), "kind": outcome.action.kind,
            "target": outcome.action.target, "status": outcome.status.value,
            "level": outcome.decision.level.value, "rule_id": outcome.decision.rule_id,
            "approval_id": outcome.approval_id, "result": outcome.result, "error": outcome.error,
            "retry_after": outcome.retry_after, "duration_s": duration_s,
        })

    async def approval(self, type_: str, approval_id: str, action: Action, **data: Any) -> Event | None:
        return await self._publish(type_, {
            "approval_id": approval_id, "action_hash": action.content_hash(), "kind": action.kind,
            "target": action.target, **data,
        })

    async def policy(self, type_: str, **data: Any) -> Event | None:
        return await self._publish(type_, data)
