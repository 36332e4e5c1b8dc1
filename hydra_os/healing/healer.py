"""The healer: runs the checks, opens one incident per root cause, and repairs through the policy gate.

A round: run every enabled check (each within ``check_timeout_s``), feed every checked target's
state to the gate's flap detection, group the failing targets by root cause (the policy's
:class:`~hydra_os.policy.guards.dependencies.DependencyGraph`, from ``healing.dependencies`` and
what the issues say they depend on), then per root: skip it in a maintenance window, wait out a
backoff, else pick the first applicable fixup (by priority; one that failed twice in a row in
this incident yields to the next) and ``gate.submit`` its action. Targets that pass again resolve
their incidents. Full rounds run every ``interval_s``; the process supervisor pokes the healer
the moment a child goes down, which runs a ``child_process``-only round at once.

Telling the owner (:mod:`hydra_os.notify`): INFORM_AFTER outcomes (from the gate) and, once per
incident, an escalation when the gate parks a repair for approval (ASK_FIRST) or refuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from loguru import logger

from hydra_os.events import EventLog
from hydra_os.healing.checks.child_process import ChildProcessCheck, process_target
from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.healing.errors import SupervisorError
from hydra_os.healing.fixups.restart_process import RestartProcess
from hydra_os.healing.incidents import Incident, IncidentStore
from hydra_os.healing.model import Check, CheckReport, Fixup, Issue, repairs
from hydra_os.healing.supervisor import ChildState
from hydra_os.healing.uptime import UptimeLog
from hydra_os.lifecycle import Background
from hydra_os.notify import Notification, Notifier, NotifyAction, NotifyError
from hydra_os.policy.guards.dependencies import DependencyGraph
from hydra_os.policy.model import Action, Gate, Outcome, OutcomeStatus

RESUBMIT_PENDING_S = 300.0


class Healer:
    name = "healing"

    def __init__(
        self,
        context: HealingContext,
        gate: Gate,
        incidents: IncidentStore,
        notifier: Notifier,
        checks: list[Check],
        fixups: list[Fixup],
        *,
        events: EventLog | None = None,
        clock: Callable[[], float] = time.time,
        uptime: UptimeLog | None = None,
    ) -> None:
        self.context = context
        self.gate = gate
        self.incidents = incidents
        self.notifier = notifier
        self.checks = [c for c in checks if c.name not in context.config.disabled_checks]
        self.fixups = [f for f in fixups if f.name not in context.config.disabled_fixups]
        self.events = events
        self.clock = clock
        self.uptime = uptime if uptime is not None else context.uptime
        context.uptime = self.uptime
        self.rounds = 0
        self.notifications = 0
        self.last_round: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._tasks = Background("healer")
        self._wake = asyncio.Event()
        self._poked: set[str] = set()
        self._registered = False
        self.approval_buttons: Callable[[str | None], list[NotifyAction]] | None = None
        """Approve/Deny buttons for an approval's notification (the web page's phone links), if served."""
        self.started = asyncio.Event()
        """Set by start(): approved repairs wait for it (the supervisor has started its children then)."""

    # ---- lifecycle -------------------------------------------------------------------------
    def register(self) -> None:
        """Tell the gate which action kinds this node can run (approved actions find them here)."""
        if self._registered:
            return
        self._registered = True
        for f in self.fixups:
            for kind in f.kinds:
                self.gate.register_executor(kind, self.executor(f), ready=self.started)
        self.gate.add_notifier(self._on_outcome)
        if self.context.supervisor is not None:
            self.context.supervisor.on_change(self.child_changed)

    async def start(self) -> None:
        self.register()
        if not self._tasks:
            self._tasks.spawn(self._loop(), "loop")
        self.started.set()

    async def stop(self) -> None:
        self.started.clear()
        await self._tasks.close()
        await asyncio.to_thread(self._save)

    def _save(self) -> None:
        self.incidents.save()
        if self.uptime is not None:
            self.uptime.save()

    def status(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "checks": [c.name for c in self.checks if c.enabled(self.context)],
            "fixups": [f.name for f in self.fixups],
            "open_incidents": len(self.incidents.open_incidents()),
            "notifications": self.notifications,
            "last_round": self.last_round,
        }

    def child_changed(self, name: str) -> None:
        """The supervisor's listener: child ``name`` went down or came back. The child_process check
        looks at every child, so one round of it now covers ``name``."""
        logger.debug("supervised child {} changed: running the {} check now", name, ChildProcessCheck.name)
        self.poke_check(ChildProcessCheck.name)

    def fixup(self, name: str) -> Fixup | None:
        """The fixup called ``name``; None when there is none or ``healing.disabled_fixups`` names it."""
        return next((f for f in self.fixups if f.name == name), None)

    async def restart_child(self, child: ChildState) -> Outcome:
        """The owner asked to restart a supervised child: the restart fixup's action, through the gate
        like any repair. SupervisorError (a refusal) when ``healing.disabled_fixups`` turned that fixup off."""
        fixup = self.fixup(RestartProcess.name)
        if fixup is None:
            raise SupervisorError(f"{RestartProcess.name} is disabled on this node (healing.disabled_fixups): "
                               f"{child.name} is not restarted")
        issue = Issue(type=IssueType.CHILD_DOWN, check=ChildProcessCheck.name, target=process_target(child.name),
                      summary=f"owner asked to restart {child.name}", details=child)
        return await self.gate.submit(fixup.action(issue, self.context), self.executor(fixup))

    def poke_check(self, check: str) -> None:
        """Something a check watches changed (a model engine failed): run that check now."""
        self._poked.add(check)
        self._wake.set()

    async def _loop(self) -> None:
        next_full = 0.0
        while True:
            now = time.monotonic()
            only: set[str] | None = None
            if now < next_full and self._poked:
                only = set(self._poked)
            if now >= next_full:
                next_full = now + self.context.config.interval_s
            self._poked.clear()
            try:
                await self.run_once(only)
            except Exception:
                logger.exception("healing round failed")
            self._wake.clear()
            if self._poked:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_full - time.monotonic()))

    # ---- one round -------------------------------------------------------------------------
    async def _run_check(self, check: Check) -> CheckReport:
        try:
            return await asyncio.wait_for(check.run(self.context), self.context.config.check_timeout_s)
        except TimeoutError:
            return CheckReport(check=check.name, error=f"did not finish in {self.context.config.check_timeout_s:g}s")
        except Exception as e:  # a broken check must not stop the others
            return CheckReport(check=check.name, error=f"{type(e).__name__}: {e}")

    async def run_once(self, only: set[str] | None = None) -> list[Incident]:
        """One round (only the named checks, when given). Returns the incidents touched."""
        async with self._lock:
            active = [c for c in self.checks if (only is None or c.name in only) and c.enabled(self.context)]
            reports = await asyncio.gather(*(self._run_check(c) for c in active))
            now = self.clock()
            touched = await self._handle(list(reports), now)
            self.rounds += 1
            self.last_round = {
                "at": now, "checks": [r.check for r in reports],
                "errors": {r.check: r.error for r in reports if r.error},
                "failing": sorted({str(i.target) for r in reports for i in r.issues}),
            }
            await asyncio.to_thread(self._save)
            return touched

    async def _handle(self, reports: list[CheckReport], now: float) -> list[Incident]:
        issues, checked = self._collect(reports)
        self._observe(issues, checked, now)
        touched: list[Incident] = []
        for group in self._graph(issues).group(issues):
            inc, fresh = self.incidents.observe(issues[group.root], list(group.dependents), now)
            if fresh:
                await self._event("healing.incident.opened", inc)
            await self._remediate(inc, issues[group.root], now)
            touched.append(inc)
        touched += await self._resolve_passing(issues, checked, now)
        return touched

    @staticmethod
    def _collect(reports: list[CheckReport]) -> tuple[dict[str, Issue], set[str]]:
        """The failing targets (first issue per target wins) and every target looked at, as the strings
        the gate, the dependency graph, the availability record and the incidents use."""
        issues: dict[str, Issue] = {}
        checked: set[str] = set()
        for r in reports:
            if r.error:
                logger.warning("check {} could not run: {}", r.check, r.error)
                continue
            checked.update(str(t) for t in r.checked)
            for i in r.issues:
                issues.setdefault(str(i.target), i)
        return issues, checked

    def _observe(self, issues: dict[str, Issue], checked: set[str], now: float) -> None:
        """Feed every checked target's state to the gate's flap detection and the availability record."""
        for t in sorted(checked):
            self.gate.observe(t, "failed" if t in issues else "ok")
            if self.uptime is not None:
                self.uptime.observe(t, t not in issues, now)

    def _graph(self, issues: dict[str, Issue]) -> DependencyGraph:
        graph = DependencyGraph()
        for target, deps in self.context.config.dependencies.items():
            graph.add(target, *deps)
        for key, i in issues.items():
            graph.add(key, *i.depends_on)
        return graph

    async def _resolve_passing(self, issues: dict[str, Issue], checked: set[str], now: float) -> list[Incident]:
        """Open incidents whose root was checked this round and passed."""
        resolved: list[Incident] = []
        for inc in self.incidents.open_incidents():
            if inc.root in checked and inc.root not in issues:
                last = inc.actions[-1] if inc.actions else None
                how = (f"healed by {last.fixup}" if last and last.status == "succeeded"
                       else "recovered without a fixup")
                self.incidents.resolve(inc, now, how)
                await self._event("healing.incident.resolved", inc)
                resolved.append(inc)
        return resolved

    def _choose(self, inc: Incident, issue: Issue) -> Fixup | None:
        candidates = [f for f in self.fixups if repairs(f, issue, self.context)]
        for f in candidates:
            if inc.failures_of(f.name) < 2 or f is candidates[-1]:
                return f
        return None

    def _waiting(self, inc: Incident, issue: Issue, now: float) -> bool:
        """True when this round must not submit a repair for ``inc`` (and says why in its outcome)."""
        if self.gate.in_maintenance(inc.root):
            inc.suppressed = True
            inc.outcome = "maintenance window: nothing is restarted"
            return True
        inc.suppressed = False
        if inc.retry_at is not None and now < inc.retry_at:
            return True
        if inc.pending_since is not None and now - inc.pending_since < RESUBMIT_PENDING_S:
            return True  # waiting for the owner; the gate runs it once approved
        if issue.repaired_by is not None:
            inc.outcome = f"repaired by {issue.repaired_by}; waiting for the check to pass"
            return True
        return False

    async def _remediate(self, inc: Incident, issue: Issue, now: float) -> None:
        if self._waiting(inc, issue, now):
            return
        fixup = self._choose(inc, issue)
        if fixup is None:
            inc.outcome = "no fixup applies; the owner has to look"
            return
        action = fixup.action(issue, self.context)
        out = await self.gate.submit(action, self.executor(fixup))
        self.incidents.record(inc, fixup.name, action, out)
        inc.retry_at = now + out.retry_after if out.status is OutcomeStatus.DEFERRED and out.retry_after else None
        self._note_outcome(inc, issue, fixup, out, now)
        if out.status in (OutcomeStatus.PENDING, OutcomeStatus.REFUSED) and not inc.escalated:
            inc.escalated = True
            await self._event("healing.incident.escalated", inc)
            await self._send(self._escalation(inc, action, out))

    def _note_outcome(self, inc: Incident, issue: Issue, fixup: Fixup, out: Outcome, now: float) -> None:
        if out.status is OutcomeStatus.PENDING:
            inc.pending_since = now
            inc.outcome = f"waiting for approval {out.approval_id}: {out.decision.reason}"
        elif out.status is OutcomeStatus.REFUSED:
            inc.outcome = f"refused by policy: {out.decision.reason}"
        elif out.status is OutcomeStatus.FAILED:
            inc.outcome = f"{fixup.name} failed: {out.error}"
        elif out.status is OutcomeStatus.SUCCEEDED:
            inc.outcome = f"{fixup.name} succeeded; waiting for the check to pass"
            self._poked.add(issue.check)  # confirm at once with the same check
            self._wake.set()

    def executor(self, fixup: Fixup) -> Callable[[Action], Any]:
        async def execute(action: Action) -> dict[str, Any]:
            return await fixup.execute(action, self.context)

        execute.__name__ = f"fixup_{fixup.name}"
        return execute

    # ---- telling the owner -----------------------------------------------------------------
    def _escalation(self, inc: Incident, action: Action, out: Outcome) -> Notification:
        if out.status is OutcomeStatus.PENDING:
            title = f"Approval needed on {self.context.node_id}: {action.summary or action.kind}"
            msg = (f"{inc.summary}. Automatic repair stopped: {out.decision.reason}. "
                   f"Approve with 'hydra approve {out.approval_id}' or deny with 'hydra deny {out.approval_id}'.")
        else:
            title = f"Needs you on {self.context.node_id}: {inc.summary}"
            msg = f"Hydra will not {action.summary or action.kind}: {out.decision.reason}."
        buttons = self.approval_buttons(out.approval_id) if self.approval_buttons and out.approval_id else []
        return Notification(title=title[:250], message=msg, priority="high", tags=["healing", "escalated"],
                            data={"incident": inc.id, "target": inc.root, "approval_id": out.approval_id},
                            actions=buttons)

    async def _on_outcome(self, out: Outcome) -> None:
        """The gate reports INFORM_AFTER outcomes and executions after an approval."""
        inc = self.incidents.by_action(out.action.content_hash())
        if inc is not None and out.approval_id is not None:
            self.incidents.record(inc, "approved", out.action, out)
            inc.pending_since = None
        ok = out.status is OutcomeStatus.SUCCEEDED
        verb = "did" if ok else "tried and failed to"
        what = out.action.summary or f"{out.action.kind} {out.action.target}"
        msg = f"{what}: {out.decision.reason}" + ("" if ok else f" — error: {out.error}")
        if inc is not None:
            msg = f"{inc.summary}. {msg}"
        await self._send(Notification(
            title=f"Hydra {verb} {what} on {self.context.node_id}"[:250], message=msg,
            priority="default" if ok else "high", tags=["healing", out.decision.level.value.lower()],
            data={"incident": inc.id if inc else None, "status": out.status.value,
                  "level": out.decision.level.value, "approval_id": out.approval_id},
        ))

    async def _send(self, note: Notification) -> None:
        try:
            await self.notifier.send(note)
            self.notifications += 1
        except NotifyError as e:
            logger.warning("notification not delivered: {}", e)

    async def _event(self, type_: str, inc: Incident) -> None:
        if self.events is None:
            return
        data = {"incident": inc.id, "root": inc.root, "check": inc.check, "summary": inc.summary,
                "dependents": inc.dependents, "status": inc.status, "outcome": inc.outcome,
                "occurrences": inc.occurrences}
        try:
            await asyncio.wait_for(self.events.publish(type_, data), 2.0)
        except Exception as e:  # the bus may be the thing that is down
            logger.debug("incident event {} not published: {}", type_, e)

