"""Node RPC verbs that take a pydantic model: the same model the verb's HTTP twin takes, so both
answer bad input alike (the field and what was expected) instead of each checking by hand.

``ctx.rpc.handle("heal.run", typed(RunChecks, self.run_checks))``: the request's JSON object is
validated as ``RunChecks`` before the handler sees it; a bad one becomes ``error(field, message)``
(an :class:`~hydra_os.errors.RpcError` unless the owner names its own), which the node RPC answers
with code 400.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hydra_os.errors import HydraError, RpcError
from hydra_os.node.rpc import Handler

M = TypeVar("M", bound=BaseModel)
ErrorFactory = Callable[[str, str], HydraError]
"""``(field, problem) -> error``: ``("checks.0", "Input should be a valid string")``."""


def first_problem(e: ValidationError) -> tuple[str, str]:
    """The first problem pydantic found, as ``(dotted field path, what was expected)``."""
    err = e.errors()[0]
    return ".".join(str(p) for p in err["loc"]) or "(body)", err["msg"]


def _rpc_error(field: str, problem: str) -> HydraError:
    return RpcError(f"{field}: {problem}")


def typed(model: type[M], handler: Callable[[M], Awaitable[dict[str, Any]]],
          error: ErrorFactory = _rpc_error) -> Handler:
    """A node RPC handler that validates its params as ``model`` first."""

    async def validated(raw: dict[str, Any]) -> dict[str, Any]:
        try:
            params = model.model_validate(raw)
        except ValidationError as e:
            raise error(*first_problem(e)) from None
        return await handler(params)

    return validated
