"""``PolicyGate``: the one way a side effect happens. Rules, then guards, then receipts, then action.

``submit(action, execute)``:

1. the engine's rule decision; ``NEVER`` is refused outright;
2. a maintenance window covering the target: SUPPRESSED (nothing runs, nothing alerts);
3. for automatic levels (AUTONOMOUS, INFORM_AFTER), the guards, in this order: a flapping target,
   the attempts on the target exhausted within the window, or the hourly budget used up each
   degrade the level to ASK_FIRST (the reason says which); a target still in backoff is DEFERRED
   with ``retry_after``;
4. AUTONOMOUS / INFORM_AFTER run the executor (attempt and budget reserved first, under a lock, so
   concurrent submits cannot overrun them); INFORM_AFTER outcomes go to the notifiers;
5. ASK_FIRST is parked in ``hydra_approvals`` (once per action hash while open: repeated
   escalations of the same action return the same approval) and run after approval by
   :class:`~hydra_os.policy.approval_runner.ApprovalRunner`.

Every step writes a receipt (:mod:`~hydra_os.policy.receipts`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from loguru import logger

from hydra_os.errors import BusError
from hydra_os.policy.approvals import ApprovalRecord, ApprovalStore
from hydra_os.policy.engine import PolicyEngine
from hydra_os.policy.guards.attempts import AttemptTracker
from hydra_os.policy.guards.budget import ActionBudget
from hydra_os.policy.guards.flap import FlapDetector
from hydra_os.policy.guards.maintenance import MaintenanceSchedule
from hydra_os.policy.model import Action, Decision, Executor, Level, Notifier, Outcome, OutcomeStatus
from hydra_os.policy.receipts import APPROVAL_REQUESTED, Receipts
from hydra_os.sections.policy import PolicyConfig


def _degrade(base: Decision, guard: str, why: str) -> Decision:
    return base.model_copy(update={
        "level": Level.ASK_FIRST, "guard": guard,
        "reason": f"{base.reason}; degraded {base.level.value} to ASK_FIRST: {why}",
    })


class PolicyGate:
    def __init__(
        self,
        node_id: str,
        engine: PolicyEngine,
        receipts: Receipts,
        config: PolicyConfig,
        schedule: MaintenanceSchedule,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node_id = node_id
        self.engine = engine
        self.receipts = receipts
        self.config = config
        self.schedule = schedule
        self.clock = clock
        self.approvals: ApprovalStore | None = None  # set when the policy service starts
        self.attempts = AttemptTracker(
            config.max_attempts, config.attempt_window, base=config.backoff_base,
            factor=config.backoff_factor, max_delay=config.backoff_max, clock=clock,
        )
        self.flap = FlapDetector(config.flap_history, config.flap_high, config.flap_low)
        self.budget = ActionBudget(config.hourly_budget, clock)
        self.counts: Counter[str] = Counter()
        self._executors: dict[str, Executor] = {}
        self._ready: dict[str, asyncio.Event] = {}  # kind pattern -> set once its component started
        self._given: dict[str, Executor] = {}  # approval id -> executor passed to submit()
        self._open_by_hash: dict[str, str] = {}  # action hash -> open approval id of this node
        self._notifiers: list[Notifier] = []
        self._lock = asyncio.Lock()

    # ---- registration ----------------------------------------------------------------------
    def register_executor(self, kind: str, executor: Executor, *, ready: asyncio.Event | None = None) -> None:
        """``kind`` is exact or a glob (``service.*``); exact registrations win. See ``Gate``."""
        self._executors[kind] = executor
        if ready is not None:
            self._ready[kind] = ready

    def _registered_kind(self, kind: str) -> str | None:
        if kind in self._executors:
            return kind
        return next((pattern for pattern in self._executors if fnmatchcase(kind, pattern)), None)

    def ready_event(self, action: Action) -> asyncio.Event | None:
        """The start-up event of the executor registered for ``action`` (None: it needs none)."""
        kind = self._registered_kind(action.kind)
        return self._ready.get(kind) if kind is not None else None

    def executor_for(self, action: Action, approval_id: str | None = None) -> Executor | None:
        if approval_id is not None and approval_id in self._given:
            return self._given[approval_id]
        kind = self._registered_kind(action.kind)
        return self._executors[kind] if kind is not None else None

    def add_notifier(self, notifier: Notifier) -> None:
        self._notifiers.append(notifier)

    # ---- guards as views -------------------------------------------------------------------
    def observe(self, target: str, state: str) -> bool:
        return self.flap.observe(target, state)

    def in_maintenance(self, target: str) -> bool:
        return self.schedule.active(target) is not None

    # ---- deciding --------------------------------------------------------------------------
    def _evaluate(self, action: Action) -> tuple[Decision, OutcomeStatus | None, float | None]:
        """(decision, SUPPRESSED/DEFERRED or None, retry_after)."""
        base = self.engine.decide(action)
        if base.level is Level.NEVER:
            return base, None, None
        window = self.schedule.active(action.target)
        if window is not None:
            d = base.model_copy(update={"guard": "maintenance", "reason": f"{base.reason}; suppressed: {window}"})
            return d, OutcomeStatus.SUPPRESSED, None
        if not base.level.automatic:
            return base, None, None
        t = action.target
        if self.flap.is_flapping(t):
            why = f"{t} is flapping ({self.flap.ratio(t):.0%} of its last {self.flap.history} states changed)"
            return _degrade(base, "flapping", why), None, None
        v = self.attempts.check(t)
        if v.exhausted:
            why = (f"{v.count} attempts on {t} within {self.attempts.window:.0f}s "
                   f"(at most {self.attempts.max_attempts})")
            return _degrade(base, "attempts", why), None, None
        if v.retry_after > 0:
            d = base.model_copy(update={
                "guard": "backoff",
                "reason": f"{base.reason}; backoff: attempt {v.count + 1} on {t} in {v.retry_after:.1f}s",
            })
            return d, OutcomeStatus.DEFERRED, v.retry_after
        if self.budget.exhausted():
            why = (f"hourly action budget exhausted ({self.budget.used()} of {self.budget.per_hour} "
                   f"used in the last hour; next frees in {self.budget.frees_in():.0f}s)")
            return _degrade(base, "budget", why), None, None
        return base, None, None

    def decide(self, action: Action) -> Decision:
        return self._evaluate(action)[0]

    # ---- submitting ------------------------------------------------------------------------
    async def submit(self, action: Action, execute: Executor | None = None) -> Outcome:
        executor = execute or self.executor_for(action)
        async with self._lock:
            decision, held, retry_after = self._evaluate(action)
            runs = decision.level.automatic and held is None and executor is not None
            if runs:
                self.attempts.record(action.target)
                self.budget.consume()
        await self.receipts.decided(action, decision)
        if decision.level is Level.NEVER:
            return await self._finish(Outcome(status=OutcomeStatus.REFUSED, decision=decision, action=action))
        if held is not None:
            return await self._finish(
                Outcome(status=held, decision=decision, action=action, retry_after=retry_after)
            )
        if executor is None:
            err = f"no executor for {action.kind!r} on node {self.node_id}; register_executor() it first"
            return await self._finish(
                Outcome(status=OutcomeStatus.FAILED, decision=decision, action=action, error=err)
            )
        if decision.level is Level.ASK_FIRST:
            return await self._park(action, decision, execute)
        return await self.run(action, decision, executor)

    async def _park(self, action: Action, decision: Decision, execute: Executor | None) -> Outcome:
        if self.approvals is None:
            raise BusError("the policy service is not started; approvals are unavailable")
        h = action.content_hash()
        existing = await self._open_approval(h)
        if existing is None:
            rec = await self.approvals.create(action, decision, self.node_id, self.config.approval_expiry)
            self._open_by_hash[h] = rec.id
            await self.receipts.approval(APPROVAL_REQUESTED, rec.id, action, expires_at=rec.expires_at,
                                         reason=decision.reason, rule_id=decision.rule_id)
            approval_id = rec.id
        else:
            approval_id = existing.id
        if execute is not None:
            self._given[approval_id] = execute
        return await self._finish(
            Outcome(status=OutcomeStatus.PENDING, decision=decision, action=action, approval_id=approval_id)
        )

    async def _open_approval(self, action_hash: str) -> ApprovalRecord | None:
        aid = self._open_by_hash.get(action_hash)
        if aid is None or self.approvals is None:
            return None
        rec = await self.approvals.get(aid)
        if rec.effective_state(self.clock()) in ("pending", "approved"):
            return rec
        self._open_by_hash.pop(action_hash, None)
        return None

    def track_approval(self, rec: ApprovalRecord) -> None:
        """Keep the open-approval index in step (called by the runner for every entry it sees)."""
        if rec.node != self.node_id:
            return
        if rec.state in ("pending", "approved"):
            self._open_by_hash[rec.action_hash] = rec.id
        elif self._open_by_hash.get(rec.action_hash) == rec.id:
            del self._open_by_hash[rec.action_hash]
        if rec.state not in ("pending", "approved", "executing"):
            self._given.pop(rec.id, None)

    async def run(self, action: Action, decision: Decision, executor: Executor,
                  approval_id: str | None = None) -> Outcome:
        """Execute now (the decision is already taken and receipted) and report the outcome."""
        await self.receipts.executing(action, decision, approval_id)
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(self.config.execute_timeout):  # runs in this task, no new one
                result = await executor(action)
            out = Outcome(status=OutcomeStatus.SUCCEEDED, decision=decision, action=action,
                          approval_id=approval_id, result=result)
        except TimeoutError:
            out = Outcome(status=OutcomeStatus.FAILED, decision=decision, action=action, approval_id=approval_id,
                          error=f"timed out after {self.config.execute_timeout:.0f}s")
        except Exception as e:  # an executor's failure is an outcome, not a crash of the gate
            out = Outcome(status=OutcomeStatus.FAILED, decision=decision, action=action, approval_id=approval_id,
                          error=f"{type(e).__name__}: {e}")
        await self._finish(out, time.monotonic() - t0)
        if decision.level is Level.INFORM_AFTER or approval_id is not None:
            await self.notify(out)
        return out

    async def _finish(self, out: Outcome, duration: float | None = None) -> Outcome:
        self.counts[out.status.value] += 1
        await self.receipts.outcome(out, duration)
        return out

    async def notify(self, out: Outcome) -> None:
        if self.in_maintenance(out.action.target):
            return  # nothing alerts during maintenance
        for n in self._notifiers:
            try:
                await n(out)
            except Exception as e:
                logger.warning("notifier {} failed: {}", getattr(n, "__name__", n), e)

    def status(self) -> dict[str, Any]:
        return {
            "policy": self.engine.policy.source,
            "policy_digest": self.engine.policy.digest[:12],
            "rules": len(self.engine.policy.rules),
            "policy_error": self.engine.last_error,
            "budget_used": self.budget.used(),
            "budget_per_hour": self.budget.per_hour,
            "attempts": self.attempts.snapshot(),
            "flapping": self.flap.flapping(),
            "outcomes": dict(self.counts),
            "executors": sorted(self._executors),
        }
