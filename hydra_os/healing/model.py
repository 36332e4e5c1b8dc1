"""The healing vocabulary: an :class:`Issue` a check found, the :class:`Check` and :class:`Fixup` seams.

The Home Assistant Supervisor "resolution center" pattern: each check and each fixup is one small
module under ``checks/`` or ``fixups/`` exposing ``CHECK`` or ``FIXUP`` (a class), discovered by
:mod:`hydra_os.healing.registry`. A check declares the :class:`~hydra_os.healing.const.IssueType` s it
reports, looks at its targets and returns the issues it found; a fixup declares the issue types it
repairs (``issues``), may narrow that further (``applies_to``), turns one issue into a policy
:class:`~hydra_os.policy.model.Action`, and executes that action when the policy gate lets it.
"""

from __future__ import annotations

import builtins
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hydra_os.healing.const import IssueType
from hydra_os.healing.details import DETAILS, Details
from hydra_os.healing.errors import HealingError
from hydra_os.healing.target import Target
from hydra_os.policy.model import Action

if TYPE_CHECKING:
    from hydra_os.healing.context import HealingContext

D = TypeVar("D", bound=BaseModel)


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class Issue(BaseModel):
    """One unhealthy thing. ``str(target)`` is what the policy sees (``unit:ollama.service``)."""

    model_config = ConfigDict(frozen=True)

    type: IssueType
    check: str = Field(description="Name of the check that found it (that check runs again to confirm a repair).")
    target: Target = Field(description="What is unhealthy.")
    summary: str = Field(description="One line for the owner.")
    details: Details = Field(description="The issue type's details model (details.DETAILS).")
    severity: Severity = Severity.CRITICAL
    depends_on: list[str] = Field(
        default_factory=list,
        description="Targets this one needs (grouping). Strings: they are the dependency graph's nodes, "
        "as written in healing.dependencies.",
    )
    repaired_by: str | None = Field(
        default=None,
        description="Another component repairs this through the policy gate itself (the model manager "
        "restarts its engines); the healer records the incident but submits no fixup of its own.",
    )

    @model_validator(mode="after")
    def _details_fit_the_type(self) -> Issue:
        want = DETAILS[self.type]
        if not isinstance(self.details, want):
            raise ValueError(f"details: a {self.type} issue carries {want.__name__}, "
                             f"not {type(self.details).__name__}")
        return self

    def detail(self, model: builtins.type[D]) -> D:  # builtins: the field ``type`` shadows it here
        """The details as ``model``; HealingError when this issue type carries another model."""
        if not isinstance(self.details, model):
            raise HealingError(f"a {self.type} issue carries {type(self.details).__name__}, not {model.__name__}")
        return self.details


class CheckReport(BaseModel):
    """What one check run looked at and what it found. ``checked - issues`` are healthy."""

    check: str
    checked: list[Target] = Field(default_factory=list)
    issues: list[Issue] = Field(default_factory=list)
    error: str | None = Field(default=None, description="Set when the check could not run at all.")

    @property
    def healthy(self) -> list[Target]:
        bad = {i.target for i in self.issues}
        return [t for t in self.checked if t not in bad]


@runtime_checkable
class Check(Protocol):
    """Looks at one kind of thing. ``run`` raises CheckFailedToRun when it cannot look at all."""

    name: str
    issues: tuple[IssueType, ...]  # every issue type it can report (the contract tests hold it to that)

    def enabled(self, ctx: HealingContext) -> bool: ...

    async def run(self, ctx: HealingContext) -> CheckReport: ...


@runtime_checkable
class Fixup(Protocol):
    """Repairs issues of the types in ``issues``. ``priority``: lower is tried first within one incident."""

    name: str
    issues: tuple[IssueType, ...]
    kind: str
    kinds: tuple[str, ...]  # every action kind it can produce (the gate finds its executor by kind)
    priority: int

    def applies_to(self, issue: Issue, ctx: HealingContext) -> bool:
        """Conditions beyond the issue type (configuration, what the node has); see :func:`repairs`."""
        ...

    def action(self, issue: Issue, ctx: HealingContext) -> Action: ...

    async def execute(self, action: Action, ctx: HealingContext) -> dict[str, Any]:
        """Run the action (called by the policy gate); raise FixupError when it does not work."""
        ...


def repairs(fixup: Fixup, issue: Issue, ctx: HealingContext) -> bool:
    """Does ``fixup`` repair ``issue`` here: one of its issue types, and its own conditions hold."""
    return issue.type in fixup.issues and fixup.applies_to(issue, ctx)
