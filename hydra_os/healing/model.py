"""The healing vocabulary: an :class:`Issue` a check found, the :class:`Check` and :class:`Fixup` seams.

The Home Assistant Supervisor "resolution center" pattern: each check and each fixup is one small
module under ``checks/`` or ``fixups/`` exposing ``CHECK`` or ``FIXUP`` (a class), discovered by
:mod:`hydra_os.healing.registry`. A check reports which targets it looked at and the issues it
found; a fixup says which issues it applies to, turns one into a policy
:class:`~hydra_os.policy.model.Action`, and executes that action when the policy gate lets it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from hydra_os.policy.model import Action

if TYPE_CHECKING:
    from hydra_os.healing.context import HealingContext


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class Issue(BaseModel):
    """One unhealthy thing. ``target`` is the same string the policy sees (``unit:ollama.service``)."""

    check: str = Field(description="Name of the check that found it.")
    target: str = Field(description="What is unhealthy: 'unit:X', 'http:NAME', 'model:NAME', 'disk:/p'...")
    summary: str = Field(description="One line for the owner.")
    severity: Severity = Severity.CRITICAL
    details: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list, description="Targets this one needs (grouping).")
    repaired_by: str | None = Field(
        default=None,
        description="Another component repairs this through the policy gate itself (the model manager "
        "restarts its engines); the healer records the incident but submits no fixup of its own.",
    )


class CheckReport(BaseModel):
    """What one check run looked at and what it found. ``checked - issues`` are healthy."""

    check: str
    checked: list[str] = Field(default_factory=list)
    issues: list[Issue] = Field(default_factory=list)
    error: str | None = Field(default=None, description="Set when the check could not run at all.")

    @property
    def healthy(self) -> list[str]:
        bad = {i.target for i in self.issues}
        return [t for t in self.checked if t not in bad]


@runtime_checkable
class Check(Protocol):
    """Looks at one kind of thing. ``run`` raises CheckFailedToRun when it cannot look at all."""

    name: str

    def enabled(self, ctx: HealingContext) -> bool: ...

    async def run(self, ctx: HealingContext) -> CheckReport: ...


@runtime_checkable
class Fixup(Protocol):
    """Repairs issues of some checks. ``priority``: lower is tried first within one incident."""

    name: str
    kind: str
    kinds: tuple[str, ...]  # every action kind it can produce (the gate finds its executor by kind)
    priority: int

    def applies_to(self, issue: Issue, ctx: HealingContext) -> bool: ...

    def action(self, issue: Issue, ctx: HealingContext) -> Action: ...

    async def execute(self, action: Action, ctx: HealingContext) -> dict[str, Any]:
        """Run the action (called by the policy gate); raise FixupError when it does not work."""
        ...
