"""Policy rules: which level an action gets, matched on kind/target globs and optional conditions.

A rule matches an action when the action's kind matches one of ``kinds`` AND its target one of
``targets`` (``fnmatch`` globs, case-sensitive) AND every optional condition holds: each
``params`` key exists with a value whose text matches the glob, ``reversible`` equals,
``min_cost <= estimated_cost <= max_cost``, ``blast_radius`` is one of the listed.

Evaluation (:meth:`Policy.match`): a matching ``NEVER`` rule wins over everything; otherwise the
first matching rule in file order; no match = unknown action = ``ASK_FIRST``.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hydra_os.policy.model import Action, BlastRadius, Level

UNKNOWN_RULE_ID = "default:unknown"


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Unique id, shown in decisions and receipts.")
    level: Level = Field(description="AUTONOMOUS, INFORM_AFTER, ASK_FIRST or NEVER.")
    kinds: list[str] = Field(min_length=1, description="Globs on Action.kind, e.g. 'service.*'.")
    targets: list[str] = Field(default_factory=lambda: ["*"], min_length=1, description="Target globs.")
    reason: str = Field(default="", description="Why; one line, shown in the decision.")
    params: dict[str, str] = Field(default_factory=dict, description="Param -> glob on its text.")
    reversible: bool | None = Field(default=None, description="Only actions with this reversibility.")
    min_cost: float | None = Field(default=None, ge=0, description="Only actions costing at least this.")
    max_cost: float | None = Field(default=None, ge=0, description="Only actions costing at most this.")
    blast_radius: list[BlastRadius] | None = Field(default=None, description="Only these blast radii.")

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", v):
            raise ValueError("expected 1-64 characters from letters, digits, '_', '.', ':' and '-'")
        return v

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("kinds", "targets", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check_costs(self) -> Rule:
        if self.min_cost is not None and self.max_cost is not None and self.min_cost > self.max_cost:
            raise ValueError(f"min_cost ({self.min_cost}) is larger than max_cost ({self.max_cost})")
        return self

    def matches(self, action: Action) -> bool:
        if not any(fnmatchcase(action.kind, g) for g in self.kinds):
            return False
        if not any(fnmatchcase(action.target, g) for g in self.targets):
            return False
        for key, glob in self.params.items():
            if key not in action.params or not fnmatchcase(_text(action.params[key]), glob):
                return False
        if self.reversible is not None and action.reversible != self.reversible:
            return False
        if self.min_cost is not None and action.estimated_cost < self.min_cost:
            return False
        if self.max_cost is not None and action.estimated_cost > self.max_cost:
            return False
        return self.blast_radius is None or action.blast_radius in self.blast_radius

    def describe(self) -> str:
        return f"rule {self.id!r}" + (f": {self.reason}" if self.reason else "")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Policy(BaseModel):
    """An ordered list of rules plus where it came from."""

    model_config = ConfigDict(frozen=True)

    rules: list[Rule]
    source: str = Field(default="built-in defaults", description="File path or 'built-in defaults'.")
    digest: str = Field(default="", description="SHA-256 of the source text, to tell versions apart.")

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        seen: set[str] = set()
        for r in self.rules:
            if r.id in seen:
                raise ValueError(f"rule id {r.id!r} is used twice")
            seen.add(r.id)
        return self

    def match(self, action: Action) -> Rule | None:
        """The deciding rule: a matching NEVER rule if any, else the first matching rule, else None."""
        first: Rule | None = None
        for r in self.rules:
            if r.matches(action):
                if r.level is Level.NEVER:
                    return r
                if first is None:
                    first = r
        return first
