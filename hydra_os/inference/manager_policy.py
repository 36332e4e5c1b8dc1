"""The model manager's own side effects, taken through the policy gate.

Two actions are the manager's decisions rather than the owner's:

- ``model.unload`` (target ``model:<id>``): stopping an idle model to make room for another
  (``hydra models start X --evict`` names the model to start, the manager picks the victims).
  Built-in policy: INFORM_AFTER. Anything but a successful run refuses the start that needed it.
- ``engine.restart`` (target ``model:<id>``): bringing back an engine that died while it served.
  Built-in policy: AUTONOMOUS. The gate's guards pace it: backoff between attempts (2 s, 4 s, ...),
  at most ``policy.max_attempts`` in ``policy.attempt_window``, then ASK_FIRST (parked for the
  owner), flap detection from the ``failed``/``ok`` states the manager observes.

The owner's explicit ``hydra models start|stop`` are not submitted: they are the owner's own
commands, run at once and recorded as ``model.start_requested`` / ``model.stop_requested`` events.

``engine.restart`` is also the kind healing's process supervisor uses (targets ``process:<name>``);
:meth:`ModelActions.register` chains the two executors by target so approvals of either still
find theirs after a daemon restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger

from hydra_os.lifecycle import Background
from hydra_os.policy.model import Action, BlastRadius, Executor, Gate, Outcome, OutcomeStatus

UNLOAD = "model.unload"
RESTART = "engine.restart"
TARGET_PREFIX = "model:"
SUPPRESSED_RETRY_S = 5.0

EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]


def target(model_id: str) -> str:
    return TARGET_PREFIX + model_id


def unload_action(node_id: str, victim: str, for_model: str) -> Action:
    return Action(
        kind=UNLOAD, target=target(victim), params={"model": victim, "node": node_id, "for": for_model},
        reversible=True, blast_radius=BlastRadius.SERVICE,
        summary=f"stop idle model {victim} on {node_id} to make room for {for_model}",
    )


def restart_action(node_id: str, model_id: str) -> Action:
    return Action(
        kind=RESTART, target=target(model_id), params={"model": model_id, "node": node_id},
        reversible=True, blast_radius=BlastRadius.SERVICE,
        summary=f"restart the crashed engine of model {model_id} on {node_id}",
    )


def refusal(out: Outcome) -> str:
    """One line for an action that did not run (or failed)."""
    what = {
        OutcomeStatus.PENDING: f"parked for approval ({out.approval_id}; 'hydra approve {out.approval_id}')",
        OutcomeStatus.DEFERRED: f"deferred by backoff, retry in {out.retry_after or 0:.0f}s",
        OutcomeStatus.SUPPRESSED: "suppressed by a maintenance window",
        OutcomeStatus.REFUSED: "refused",
        OutcomeStatus.FAILED: f"failed: {out.error}",
    }.get(out.status, str(out.status))
    return f"{out.action.kind} {out.action.target} {what} (policy: {out.decision.reason})"


class ModelActions:
    """Submits the manager's actions and runs the restart loop of each crashed engine."""

    def __init__(self, gate: Gate, node_id: str, events: EventSink) -> None:
        self.gate = gate
        self.node_id = node_id
        self._event = events
        self._restarts: dict[str, asyncio.Task[None]] = {}
        self._restart_tasks = Background("restart")  # tasks named restart-<model>

    def register(self, unload: Executor, restart: Executor, ready: asyncio.Event | None = None) -> None:
        """Executors by kind, so approved actions run after a daemon restart too (once ``ready`` is set)."""
        self.gate.register_executor(UNLOAD, unload, ready=ready)
        probe = Action(kind=RESTART, target="process:-")
        lookup = getattr(self.gate, "executor_for", None)
        other: Executor | None = lookup(probe) if lookup is not None else None

        async def chained(action: Action) -> dict[str, Any] | None:
            if action.target.startswith(TARGET_PREFIX) or other is None:
                return await restart(action)
            return await other(action)

        self.gate.register_executor(RESTART, chained, ready=ready)

    async def unload(self, victim: str, for_model: str, execute: Executor) -> Outcome:
        return await self.gate.submit(unload_action(self.node_id, victim, for_model), execute)

    def observe(self, model_id: str, state: str) -> None:
        self.gate.observe(target(model_id), state)

    # ---- crashed engines -------------------------------------------------------------------
    def restarting(self, model_id: str) -> bool:
        t = self._restarts.get(model_id)
        return t is not None and not t.done()

    def schedule_restart(self, model_id: str, execute: Executor, still_wanted: Callable[[], bool]) -> None:
        if self.restarting(model_id):
            return
        self._restarts[model_id] = self._restart_tasks.spawn(
            self._restart_loop(model_id, execute, still_wanted), model_id
        )

    async def cancel_restart(self, model_id: str) -> None:
        await self._restart_tasks.cancel(self._restarts.pop(model_id, None))  # not itself, when it asks

    async def close(self) -> None:
        self._restarts.clear()
        await self._restart_tasks.close()

    async def _restart_loop(self, model_id: str, execute: Executor, still_wanted: Callable[[], bool]) -> None:
        action = restart_action(self.node_id, model_id)
        while still_wanted():
            out = await self.gate.submit(action, execute)
            if out.status is OutcomeStatus.SUCCEEDED:
                await self._event("model.restarted", {"model": model_id, "result": out.result or {}})
                return
            if out.status is OutcomeStatus.DEFERRED:
                await asyncio.sleep(max(out.retry_after or 0.0, 0.05))
                continue
            if out.status is OutcomeStatus.FAILED:
                logger.warning("restart of model {} failed: {}", model_id, out.error)
                continue  # the next submit is paced by the gate's backoff and capped by its attempts
            if out.status is OutcomeStatus.SUPPRESSED:
                await asyncio.sleep(SUPPRESSED_RETRY_S)
                continue
            # PENDING (the gate escalated: attempts exhausted, flapping, budget) or REFUSED
            logger.warning("model {} stays down: {}", model_id, refusal(out))
            await self._event(
                "model.restart_withheld",
                {"model": model_id, "status": out.status.value, "approval": out.approval_id,
                 "reason": out.decision.reason},
            )
            return
