"""The policy vocabulary: what an action is, what the engine decides, and the gate that runs actions.

Every side effect the daemon can take (restart a unit, roll NixOS back, free a cache, delete data)
is an :class:`Action`. :class:`~hydra_os.policy.engine.PolicyEngine` maps it to a :class:`Decision`
from the owner's ordered rules; the :class:`Gate` (implemented by
:class:`hydra_os.policy.gate.PolicyGate`) adds the guards (attempts and backoff, flap detection,
maintenance windows, the hourly action budget), writes receipts to ``HYDRA_EVENTS``, and then:

- ``AUTONOMOUS``: runs the executor;
- ``INFORM_AFTER``: runs the executor, then tells the registered notifiers what happened;
- ``ASK_FIRST``: parks the action in ``hydra_approvals`` (expiry = denied) and runs it exactly once
  after an approval, with the executor registered for the action's kind on the node that parked it;
- ``NEVER``: refuses; the owner can still do it by hand.

The names in this module are a stable seam used by healing and NixOS rollback.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Level(StrEnum):
    """How much autonomy an action gets, from most to least."""

    AUTONOMOUS = "AUTONOMOUS"
    INFORM_AFTER = "INFORM_AFTER"
    ASK_FIRST = "ASK_FIRST"
    NEVER = "NEVER"

    @property
    def rank(self) -> int:
        """0 = most autonomous, 3 = never. ``max(levels, key=rank)`` is the strictest."""
        return _RANK[self]

    @property
    def automatic(self) -> bool:
        """True for the levels that run without the owner (AUTONOMOUS, INFORM_AFTER)."""
        return self in (Level.AUTONOMOUS, Level.INFORM_AFTER)


_RANK = {Level.AUTONOMOUS: 0, Level.INFORM_AFTER: 1, Level.ASK_FIRST: 2, Level.NEVER: 3}


class BlastRadius(StrEnum):
    """How much can break if the action goes wrong."""

    NONE = "none"  # read-only or trivially undone
    SERVICE = "service"  # one service or process
    NODE = "node"  # a whole machine (reboot, NixOS switch)
    CLUSTER = "cluster"  # every node, or shared state
    DATA = "data"  # the owner's data


class Action(BaseModel):
    """One side effect, described well enough to decide on it and to run it again after approval.

    ``kind`` is a dotted verb (``service.restart``, ``nixos.rollback``, ``data.delete``); ``target``
    names what it acts on (``unit:ollama.service``, ``engine:vllm-70b``, ``node:gpu1``). The content
    hash covers everything that changes what the action does, so an approval can check that it runs
    exactly the action the owner saw.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(min_length=1, max_length=128, description="Dotted verb, e.g. 'service.restart'.")
    target: str = Field(min_length=1, max_length=256, description="What it acts on: 'unit:ollama.service'.")
    params: dict[str, Any] = Field(default_factory=dict, description="Arguments; JSON-serialisable.")
    reversible: bool = Field(default=True, description="Can the action be undone?")
    estimated_cost: float = Field(default=0.0, ge=0, description="Estimated spending (owner's currency).")
    blast_radius: BlastRadius = Field(default=BlastRadius.SERVICE, description="How much can break.")
    summary: str = Field(default="", max_length=500, description="One line for the owner; not hashed.")

    @field_validator("kind")
    @classmethod
    def _check_kind(cls, v: str) -> str:
        if any(c.isspace() for c in v):
            raise ValueError("expected a dotted verb without spaces, e.g. 'service.restart'")
        return v

    @field_validator("params")
    @classmethod
    def _check_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(v, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"expected JSON-serialisable values ({e})") from None
        return v

    @field_validator("estimated_cost")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("expected a finite number")
        return v

    def canonical(self) -> bytes:
        body = {
            "kind": self.kind,
            "target": self.target,
            "params": self.params,
            "reversible": self.reversible,
            "estimated_cost": self.estimated_cost,
            "blast_radius": self.blast_radius.value,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of everything but ``summary``; stable across processes."""
        return hashlib.sha256(self.canonical()).hexdigest()


class Decision(BaseModel):
    """What the policy says about one action, after the guards. ``reason`` is one line."""

    model_config = ConfigDict(frozen=True)

    level: Level
    rule_id: str = Field(description="The matching rule's id, or 'default:unknown' when none matched.")
    reason: str = Field(description="One line: why this level (rule, and any guard that changed it).")
    action_hash: str = ""
    base_level: Level | None = Field(default=None, description="The rule's level before the guards.")
    guard: str | None = Field(default=None, description="The guard that changed the level, if any.")


class OutcomeStatus(StrEnum):
    SUCCEEDED = "succeeded"  # executed, executor returned
    FAILED = "failed"  # executed, executor raised
    REFUSED = "refused"  # NEVER (or an approval whose action hash no longer matches)
    PENDING = "pending"  # ASK_FIRST: waiting in hydra_approvals
    DEFERRED = "deferred"  # backoff: try again after ``retry_after`` seconds
    SUPPRESSED = "suppressed"  # a maintenance window covers the target: nothing is done, nothing alerts


class Outcome(BaseModel):
    """What ``Gate.submit`` did with an action."""

    status: OutcomeStatus
    decision: Decision
    action: Action
    approval_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    retry_after: float | None = Field(default=None, description="DEFERRED: seconds until the next try.")

    @property
    def executed(self) -> bool:
        return self.status in (OutcomeStatus.SUCCEEDED, OutcomeStatus.FAILED)


Executor = Callable[[Action], Awaitable[dict[str, Any] | None]]
"""Runs an action; returns a small JSON-able result or None; raises to report failure."""

Notifier = Callable[[Outcome], Awaitable[None]]
"""Told about INFORM_AFTER outcomes (and executions after an approval). Never during maintenance."""


@runtime_checkable
class Gate(Protocol):
    """The one way a component takes a side effect; see :class:`hydra_os.policy.gate.PolicyGate`."""

    def register_executor(self, kind: str, executor: Executor, *, ready: asyncio.Event | None = None) -> None:
        """Say that this node can run actions of ``kind``; approved ASK_FIRST actions find it here.
        ``ready``: set once the component behind the executor has started; approved actions of this
        kind wait for it (an approval found at start-up must not run before its component does)."""
        ...

    def add_notifier(self, notifier: Notifier) -> None: ...

    def decide(self, action: Action) -> Decision:
        """The decision ``submit`` would take now (rules + guards), without side effects."""
        ...

    async def submit(self, action: Action, execute: Executor | None = None) -> Outcome:
        """Decide, record receipts, then run / park / refuse / defer / suppress. ``execute`` defaults
        to the executor registered for ``action.kind``."""
        ...

    def observe(self, target: str, state: str) -> bool:
        """Feed one observed state of ``target`` (e.g. 'ok'/'failed') to flap detection; returns
        whether the target is flapping now."""
        ...

    def in_maintenance(self, target: str) -> bool:
        """True while a maintenance window covers ``target``: do not restart, do not alert."""
        ...
