"""The parameters of the healing operations, one model each, shared by the node RPC verb
(``heal.*``) and its HTTP twin (``/v1/healing/*``): both name a bad field the same way."""

from __future__ import annotations

from pydantic import BaseModel, Field

from hydra_os.healing.errors import CheckRequestError, SupervisorError


class IncidentsQuery(BaseModel):
    all: bool = Field(default=False, description="also the resolved incidents")


class RunChecks(BaseModel):
    checks: list[str] | None = Field(default=None, description="the checks to run; none: every enabled check")


class RestartChild(BaseModel):
    name: str = Field(min_length=1, description="the name of a supervised child")


def bad_request(field: str, problem: str) -> CheckRequestError:
    """A bad parameter of ``heal.incidents`` or ``heal.run``."""
    return CheckRequestError(f"{field}: {problem}")


def bad_restart(field: str, problem: str) -> SupervisorError:
    """A bad parameter of ``heal.restart``."""
    return SupervisorError(f"{field}: {problem}")
