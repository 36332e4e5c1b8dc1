"""The ``[inference]`` config section: static endpoints, aliases, tier mapping, router and gateway knobs.

Example::

    [inference]
    aliases = { chat = "qwen3-8b", big = "llama-3.3-70b" }
    tiers = { fast = ["gemma3-270m"], standard = ["qwen3-8b"], heavy = ["llama-3.3-70b"] }

    [[inference.endpoints]]
    url = "http://10.0.0.5:8000/v1"
    model = "llama-3.3-70b"
    tier = "heavy"
    context_length = 32768
    engine = "vllm"
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hydra_os.durations import Seconds

Tier = Literal["fast", "standard", "heavy"]
EngineKind = Literal["vllm", "tabbyapi", "llama-server", "ollama", "openai"]

AUTO_MODEL = "hydra/auto"
TIERS: tuple[Tier, ...] = ("fast", "standard", "heavy")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StaticEndpoint(_Section):
    url: str = Field(description="OpenAI-compatible base URL ending in /v1, e.g. http://host:8000/v1.")
    model: str = Field(min_length=1, description="Model id the endpoint serves (sent upstream as 'model').")
    tier: Tier = Field(description="Tier this endpoint serves: fast, standard or heavy.")
    context_length: int = Field(default=4096, gt=0, description="Context window in tokens.")
    engine: EngineKind = Field(default="openai", description="Engine kind behind the URL (informational).")
    name: str | None = Field(default=None, description="Endpoint name for its id; default: the model id.")
    aliases: list[str] = Field(default_factory=list, description="Other names clients may use for the model.")
    api_key_file: Path | None = Field(
        default=None, description="File holding the upstream API key (remote APIs); never sent to the bus."
    )
    max_in_flight: int | None = Field(
        default=None, gt=0, description="Requests at once before it counts as busy; default router.max_in_flight."
    )
    completions_only: bool = Field(default=False, description="Base model: route only /v1/completions to it.")
    embeddings: bool = Field(default=False, description="An embedding model (serves /v1/embeddings).")

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an http(s) base URL such as http://host:8000/v1, got {v!r}")
        return v.rstrip("/")


class RouterConfig(_Section):
    max_tries: int = Field(default=3, ge=1, le=10, description="Attempts per request across endpoints and tiers.")
    connect_timeout: Seconds = Field(default=2.0, description="Seconds to connect to an endpoint.")
    first_byte_timeout: Seconds = Field(
        default=60.0, le=3600, description="Seconds until a streamed answer's first byte."
    )
    response_timeout: Seconds = Field(
        default=600.0, le=86400,
        description="Seconds for a whole non-streamed answer (engines send its headers only when generation "
        "ends, so its first byte is its last).",
    )
    cool_after_5xx: int = Field(
        default=3, ge=1, le=100,
        description="5xx answers in a row (different requests, no success between) before an endpoint cools "
        "down; connect errors and timeouts cool it at once, request faults never.",
    )
    read_timeout: Seconds = Field(default=300.0, description="Seconds allowed between streamed chunks.")
    cooldown_base: Seconds = Field(default=1.0, description="First cooldown of a failing endpoint (seconds).")
    cooldown_max: Seconds = Field(default=60.0, description="Longest cooldown (exponential backoff cap).")
    probe_interval: Seconds = Field(default=0.5, description="How often cooled-down endpoints are probed.")
    max_in_flight: int = Field(default=64, gt=0, description="Requests per endpoint at once before it is busy.")
    queue_size: int = Field(default=256, ge=0, description="Requests that may wait when every endpoint is busy.")
    queue_timeout: Seconds = Field(default=30.0, description="Seconds a request waits before 429.")
    retry_after: int = Field(default=1, ge=1, description="Retry-After seconds sent with 429.")
    sticky_entries: int = Field(default=10000, gt=0, description="Conversations remembered for stickiness.")
    ewma_alpha: float = Field(default=0.2, gt=0, le=1, description="Weight of the newest latency sample.")
    route_records: bool = Field(
        default=True,
        description="Append hydra/auto decisions (with the newest user turn's text) and overrides to "
        "<state_dir>/router/routes.jsonl, for 'hydra route stats' and 'hydra route retrain'.",
    )
    override_window: Seconds = Field(
        default=1800.0, description="Seconds after a hydra/auto answer in which a retry naming a model "
        "of another tier counts as an override.",
    )

    @model_validator(mode="after")
    def _check(self) -> RouterConfig:
        if self.cooldown_max < self.cooldown_base:
            raise ValueError(f"cooldown_max ({self.cooldown_max}) must be >= cooldown_base ({self.cooldown_base})")
        return self


class MemoryChatConfig(_Section):
    """``[inference.memory]``: the memory-aware model names (memory in, the exchange archived after)."""

    enabled: bool = Field(default=True, description="Serve the memory-aware model names at all.")
    models: dict[str, str] = Field(
        default_factory=lambda: {"hydra/assistant": AUTO_MODEL},
        description="Memory-aware model name -> the model the router is asked for (hydra/auto or a model id).",
    )
    aliases: list[str] = Field(
        default_factory=list,
        description="Aliases of inference.aliases that are memory-aware too (memory = true for them).",
    )
    deadline_ms: int = Field(
        default=300, ge=10, le=10_000,
        description="Longest wait for context assembly; past it the chat goes on without memory (warning header).",
    )
    budget_tokens: int | None = Field(
        default=None, ge=50, le=1_000_000, description="Token budget of the injected memory; default memory.context.",
    )
    queue_size: int = Field(
        default=256, ge=1, le=100_000,
        description="Exchanges waiting to be archived; more are dropped (counted, logged), never waited for.",
    )
    header_max_chars: int = Field(default=512, ge=64, le=4096, description="Longest x-hydra-memory header value.")


class InferenceConfig(_Section):
    endpoints: list[StaticEndpoint] = Field(
        default_factory=list, description="Static OpenAI-compatible endpoints this node announces."
    )
    aliases: dict[str, str] = Field(default_factory=dict, description="Alias -> model id.")
    tiers: dict[Tier, list[str]] = Field(
        default_factory=dict,
        description="Tier -> model ids (or aliases) for hydra/auto; a tier not listed here uses the "
        "endpoints announced with that tier.",
    )
    embedding_model: str | None = Field(
        default=None, min_length=1,
        description="The model (id or alias) hydra/auto means on /v1/embeddings; never another, since vectors of "
        "two models do not mix. Unset: the one embedding model served, pinned for the gateway's life.",
    )
    require_auth: bool = Field(
        default=True,
        description="The /v1 OpenAI routes need the node's bearer token (give it to clients as their API key).",
    )
    router: RouterConfig = Field(default_factory=RouterConfig)
    memory: MemoryChatConfig = Field(default_factory=MemoryChatConfig)

    @field_validator("aliases")
    @classmethod
    def _check_aliases(cls, v: dict[str, str]) -> dict[str, str]:
        if AUTO_MODEL in v:
            raise ValueError(f"{AUTO_MODEL!r} is reserved and cannot be an alias")
        return v
