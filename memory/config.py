"""The ``memory`` config section (``[memory]`` in config.toml, ``HYDRA_MEMORY__...`` in the environment).

Sub-sections: ``core`` (native or Letta), ``embed``, ``archival``, ``graph`` (the stores' own models,
from :mod:`memory.embed.config`, :mod:`memory.archival.config`, :mod:`memory.graph.config`),
``context`` (:class:`memory.context_config.ContextConfig`), ``extract`` (optional LLM extraction) and
``service`` (the bus service on the memory node).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hydra_os.durations import Seconds
from memory.archival.config import ArchivalConfig
from memory.context_config import ContextConfig
from memory.embed.config import EmbedConfig
from memory.graph.config import GraphConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CoreConfig(_Section):
    backend: Literal["native", "letta"] = Field(
        default="native", description="native: JSON files in the state dir; letta: blocks on a Letta server."
    )
    path: Path | None = Field(
        default=None, description="native: directory of the blocks; default <state_dir>/memory/core."
    )
    letta_url: str | None = Field(default=None, description="letta: server base URL, e.g. http://127.0.0.1:8283.")
    letta_api_key_file: Path | None = Field(
        default=None, description="letta: file holding the API key (unset: $LETTA_API_KEY, else none)."
    )
    letta_tag: str = Field(
        default="hydra", min_length=1, description="letta: tag marking Hydra's blocks on the server."
    )
    timeout_s: Seconds = Field(default=10.0, description="letta: per-request timeout in seconds.")

    @model_validator(mode="after")
    def _check(self) -> CoreConfig:
        if self.backend == "letta" and not self.letta_url:
            raise ValueError("letta_url: required when backend is 'letta' (e.g. http://127.0.0.1:8283)")
        return self


class ExtractConfig(_Section):
    url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL for extraction (the Hydra gateway, e.g. http://127.0.0.1:8700). "
        "Unset: extraction is off and only structured writes happen.",
    )
    model: str = Field(default="hydra/auto", description="Model to ask; hydra/auto lets the router choose.")
    api_key_file: Path | None = Field(default=None, description="File holding the bearer token for the endpoint.")
    timeout_s: Seconds = Field(default=60.0, description="Timeout of the one extraction call per write.")
    max_chars: int = Field(
        default=8000, ge=100, le=200_000, description="Longer text is cut to this before extraction."
    )


class ServiceConfig(_Section):
    request_timeout_s: Seconds = Field(default=10.0, description="Client: timeout of ordinary memory requests.")
    optimize_interval_s: Seconds = Field(
        default=300.0, description="Memory node: seconds between background archival index optimisations."
    )
    optimize_after_writes: int = Field(
        default=1000, ge=1, description="Memory node: passages added over the bus that kick an optimisation early."
    )
    optimize_quiet_s: Seconds = Field(
        default=30.0, description="Memory node: an optimisation ended by reads or writes reruns only after this many "
        "seconds without any (doubled per interruption in a row, up to 30 minutes)."
    )


class MemoryConfig(_Section):
    learnings_path: Path | None = Field(
        default=None, description="Learnings log; default <state_dir>/memory/learnings.jsonl."
    )
    core: CoreConfig = Field(default_factory=CoreConfig)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    archival: ArchivalConfig = Field(default_factory=ArchivalConfig)
    graph: GraphConfig = Field(default_factory=GraphConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
