"""Actions from untrusted JSON (API bodies, RPC params, the CLI), without importing FastAPI."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hydra_os.policy.errors import PolicyError
from hydra_os.policy.model import Action


def parse_action(data: dict[str, Any]) -> Action:
    """An Action from untrusted JSON; PolicyError naming the field on bad input."""
    try:
        return Action.model_validate(data)
    except ValidationError as e:
        parts = []
        for err in e.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(action)"
            parts.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
        raise PolicyError("invalid action: " + "; ".join(parts)) from None
