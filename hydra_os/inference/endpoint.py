"""An inference endpoint as announced in the ``hydra_models`` KV (the router's view of the world).

GPU nodes announce what their engines serve; static endpoints from config are announced the same
way. Keys are ``<node>.<slug>`` so a node's endpoints are easy to find and drop when it leaves.
"""

from __future__ import annotations

import re
import time
from typing import Literal

from pydantic import BaseModel, Field

from hydra_os.sections.inference import EngineKind as EngineKind  # the config names these too
from hydra_os.sections.inference import Tier as Tier

Health = Literal["healthy", "degraded", "down", "starting"]


def endpoint_key(node: str, name: str) -> str:
    """A KV-safe key for one endpoint of one node."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:80]
    return f"{node}.{slug}"


class EndpointInfo(BaseModel):
    id: str = Field(description="KV key: <node>.<slug>.")
    model: str = Field(description="Model id as the engine serves it (what goes in the request's 'model').")
    engine: EngineKind
    base_url: str = Field(description="OpenAI-compatible base URL ending in /v1.")
    node: str
    tier: Tier
    context_length: int = Field(default=4096, gt=0)
    health: Health = "healthy"
    in_flight: int = 0
    ewma_latency_ms: float | None = None
    ewma_tokens_per_s: float | None = None
    aliases: list[str] = Field(default_factory=list)
    completions_only: bool = Field(
        default=False, description="Base model without a chat template: serve through /v1/completions."
    )
    embeddings: bool = Field(default=False, description="An embedding model: serves /v1/embeddings.")
    max_in_flight: int | None = Field(
        default=None, gt=0, description="Requests at once before the gateway counts it busy (None: router default)."
    )
    needs_api_key: bool = Field(
        default=False, description="Upstream wants an API key that only gateways configured with it hold."
    )
    updated_at: float = Field(default_factory=time.time)
