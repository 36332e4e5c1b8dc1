"""Runs approved actions on the node that parked them, exactly once, and receipts every decision.

Any client (``hydra approve``, the API of any node, a script) approves or denies by a CAS on the
``hydra_approvals`` entry. Every node watches the bucket; the node named in the entry (the one
that parked the action and has its executor) reacts:

- ``approved``: receipt ``approval.approved``, then ``claim`` (CAS approved -> executing). Only one
  claim can succeed, so two approvals, two watchers or a restart never run it twice. The stored
  action's hash is checked again at the claim; a mismatch is ``refused``. The executor is the one
  given to ``submit()`` while this process lives, else the one registered for the action's kind.
- ``denied`` / ``expired``: receipt, once (``receipted_state`` in the entry remembers it).
- ``executing`` but not running in this process (found before watching, or by any sweep): a run of
  this node died while running it; it is marked failed with a receipt, never re-run.

A sweeper marks this node's overdue pending approvals ``expired`` and prunes finished ones after
``approval_retention``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats.errors
import nats.js.errors
from loguru import logger

from hydra_os.bus.kvscan import WATCH_INACTIVE_S
from hydra_os.errors import HydraError
from hydra_os.lifecycle import Background
from hydra_os.policy.approvals import ApprovalRecord, ApprovalStore
from hydra_os.policy.gate import PolicyGate
from hydra_os.policy.model import Outcome, OutcomeStatus
from hydra_os.policy.receipts import APPROVAL_EVENTS

_TERMINAL = ("denied", "expired", "succeeded", "failed", "refused")
INTERRUPTED = "the node restarted while it ran; not re-run"
EXECUTOR_WAIT_LOG_S = 60.0  # how often a waiting approval says so in the log


class ApprovalRunner:
    def __init__(self, gate: PolicyGate, store: ApprovalStore) -> None:
        self.gate = gate
        self.store = store
        self.node_id = gate.node_id
        self._busy: set[str] = set()
        self._tasks = Background("approval")  # tasks named approval-<id>
        self.ready = asyncio.Event()
        self.executed = 0

    async def watch(self) -> None:
        """Close what a previous run of this node left ``executing``, then follow the bucket until
        cancelled (initial values first, then live updates)."""
        await self.close_interrupted()
        watcher = await self.store.kv.watchall(inactive_threshold=WATCH_INACTIVE_S)
        try:
            async for entry in watcher:
                if entry is None:
                    self.ready.set()
                    continue
                if entry.operation in ("DEL", "PURGE") or not entry.value:
                    continue
                try:
                    rec = ApprovalRecord.model_validate_json(entry.value)
                except ValueError as e:
                    logger.warning("ignoring malformed approval {}: {}", entry.key, e)
                    continue
                self.gate.track_approval(rec)
                if rec.node == self.node_id and rec.id not in self._busy:
                    self._spawn(rec)
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]

    def _spawn(self, rec: ApprovalRecord) -> None:
        if rec.state == "approved" or (rec.state in _TERMINAL and rec.receipted_state != rec.state):
            self._busy.add(rec.id)
            self._tasks.spawn(self._handle(rec.id), rec.id)

    async def _handle(self, approval_id: str) -> None:
        try:
            await self._handle_one(approval_id)
        except HydraError as e:
            logger.warning("approval {}: {}", approval_id, e)
        except (nats.errors.Error, OSError) as e:
            logger.warning("approval {}: bus error, will retry on the next update: {}", approval_id, e)
        finally:
            self._busy.discard(approval_id)

    async def close_interrupted(self, records: list[ApprovalRecord] | None = None) -> int:
        """Mark this node's ``executing`` approvals that this process is not running as failed, with a
        receipt; returns how many. Only the owning node claims (approved -> executing) and it runs each
        claim inside a task tracked in ``_busy``, so such a record was left by a run of this node that
        died mid-execution: it is never re-run (at most once). Called before watching (at start, and
        whenever the watcher is restarted) and by every sweep, so it does not depend on the watcher's
        initial snapshot being complete."""
        closed = 0
        for rec in records if records is not None else await self.store.list():
            if rec.state != "executing" or rec.node != self.node_id or rec.id in self._busy:
                continue
            self._busy.add(rec.id)
            try:
                closed += await self._close_interrupted(rec)
            finally:
                self._busy.discard(rec.id)
        return closed

    async def _close_interrupted(self, rec: ApprovalRecord) -> int:
        done = await self.store.finish(rec.id, ok=False, error=INTERRUPTED)
        if done is None:
            return 0  # it moved on meanwhile
        logger.warning("approval {} ({} {}) was interrupted by a restart of node {}; marked failed, not re-run",
                       rec.id, rec.action.kind, rec.action.target, self.node_id)
        out = Outcome(status=OutcomeStatus.FAILED, decision=rec.decision, action=rec.action,
                      approval_id=rec.id, error=INTERRUPTED)
        await self.gate.receipts.outcome(out)
        await self.store.mark_receipted(rec.id, "failed")
        return 1

    async def _handle_one(self, approval_id: str) -> None:
        rec = await self.store.get(approval_id)
        if rec.state in APPROVAL_EVENTS and rec.receipted_state != rec.state:
            await self.gate.receipts.approval(APPROVAL_EVENTS[rec.state], approval_id, rec.action,
                                              by=rec.decided_by, note=rec.note)
            await self.store.mark_receipted(approval_id, rec.state)
        if rec.state != "approved":
            return
        await self._wait_for_executor(rec)  # still `approved` meanwhile: a crash here loses nothing
        claimed = await self.store.claim(approval_id, self.node_id)
        if claimed is None:
            return  # someone else's, or already claimed
        if claimed.state == "refused":
            out = Outcome(status=OutcomeStatus.REFUSED, decision=claimed.decision, action=claimed.action,
                          approval_id=approval_id, error=claimed.error)
            await self.gate.receipts.outcome(out)
            await self.store.mark_receipted(approval_id, "refused")
            return
        executor = self.gate.executor_for(claimed.action, approval_id)
        if executor is None:
            err = f"no executor for {claimed.action.kind!r} on node {self.node_id}"
            await self.store.finish(approval_id, ok=False, error=err)
            await self.gate.receipts.outcome(Outcome(status=OutcomeStatus.FAILED, decision=claimed.decision,
                                                     action=claimed.action, approval_id=approval_id, error=err))
            return
        self.gate.attempts.record(claimed.action.target)
        self.executed += 1
        out = await self.gate.run(claimed.action, claimed.decision, executor, approval_id)
        await self.store.finish(approval_id, ok=out.status is OutcomeStatus.SUCCEEDED,
                                result=out.result, error=out.error)
        await self.store.mark_receipted(approval_id, out.status.value)

    async def _wait_for_executor(self, rec: ApprovalRecord) -> None:
        """Until the component that runs ``rec``'s kind has started (e.g. the supervisor of a child to
        restart): an approval found at start-up must not race that component's own start."""
        ready = self.gate.ready_event(rec.action)
        while ready is not None and not ready.is_set():
            try:
                await asyncio.wait_for(ready.wait(), EXECUTOR_WAIT_LOG_S)
            except TimeoutError:
                logger.info("approval {} ({}) waits for the component that runs it to start",
                            rec.id, rec.action.kind)

    async def sweep(self, interval: float, retention: float) -> None:
        """Expire overdue pending approvals of this node; prune old finished ones. Until cancelled."""
        while True:
            with contextlib.suppress(HydraError, nats.errors.Error, OSError):
                await self.sweep_once(retention)
            await asyncio.sleep(interval)

    async def sweep_once(self, retention: float) -> None:
        records = await self.store.list()
        await self.close_interrupted(records)
        now = self.store.clock()
        for rec in records:
            if rec.node != self.node_id:
                continue
            if rec.state == "pending" and now >= rec.expires_at:
                await self.store.expire(rec.id)
            elif rec.state in _TERMINAL and rec.receipted_state == rec.state and \
                    now - (rec.finished_at or rec.decided_at or rec.created_at) > retention:
                with contextlib.suppress(nats.js.errors.KeyNotFoundError):
                    await self.store.kv.purge(rec.id)

    async def stop(self) -> None:
        await self._tasks.close()

    def status(self) -> dict[str, Any]:
        return {"executed_after_approval": self.executed, "in_flight": sorted(self._busy)}
