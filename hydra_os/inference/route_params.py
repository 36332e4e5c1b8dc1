"""The parameters of the router's node RPC verbs (``route-explain``, ``route-feedback``), one model
each; a bad field is a :class:`BadRequestError` whose ``param`` names it, as on the OpenAI routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from hydra_os.inference.endpoint import Tier
from hydra_os.inference.errors import BadRequestError
from hydra_os.inference.router import Kind
from hydra_os.node.rpc_params import ErrorFactory


class RouteFeedback(BaseModel):
    turn: str = Field(pattern=r"^[0-9a-f]{20}$",
                      description="the x-hydra-turn header of a hydra/auto answer (20 hex digits)")
    tier: Tier = Field(description="the tier the answer wanted")


class RouteExplain(BaseModel):
    body: dict[str, Any] = Field(description="an OpenAI request object")
    kind: Kind = "chat"


def bad_request(verb: str) -> ErrorFactory:
    """The error factory for :func:`hydra_os.node.rpc_params.typed` on ``verb``."""

    def error(field: str, problem: str) -> BadRequestError:
        return BadRequestError(f"{verb}: {field}: {problem}", param=field)

    return error
