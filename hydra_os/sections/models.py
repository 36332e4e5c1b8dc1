"""The ``[models]`` config section: the models a GPU node serves, and Ollama instances it discovers.

In TOML::
    [models]
    bind_host = "0.0.0.0"            # engines listen here
    advertise_host = "gpu1.lan"      # and are announced under this host

    [[models.model]]
    id = "qwen3-32b"
    engine = "vllm"                  # vllm | tabbyapi | llama-server
    repo = "Qwen/Qwen3-32B-AWQ"
    tier = "heavy"
    context_length = 32768
    vram_mb = 30000
    autostart = true

    [[models.ollama]]
    url = "http://127.0.0.1:11434"
    tier = "fast"

Models written by ``hydra models install`` live in ``<state_dir>/models.toml`` (same ``[[model]]``
tables) and are merged in at start; an entry in the main config with the same id wins.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hydra_os.durations import Seconds, SecondsOrZero
from hydra_os.errors import ConfigError
from hydra_os.sections.inference import Tier

ManagedEngine = Literal["vllm", "tabbyapi", "llama-server"]
STATE_MODELS_FILE = "models.toml"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@\\-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)


class ModelSpec(_Strict):
    """One model this node can serve through a managed engine."""

    id: str = Field(description="Model id clients send as 'model' (the engine serves it under this name).")
    engine: ManagedEngine = Field(description="Engine that serves it: vllm, tabbyapi or llama-server.")
    path: Path | None = Field(
        default=None,
        description="Local weights: GGUF file (llama-server), EXL3 folder (tabbyapi) or model folder (vllm).",
    )
    repo: str | None = Field(
        default=None, description="vLLM only: a Hugging Face repo id to serve instead of a path."
    )
    tier: Tier = Field(
        default="standard", description="Router tier this model serves: fast, standard or heavy."
    )
    context_length: int = Field(
        default=4096, gt=0, description="Context window to run the engine with (tokens)."
    )
    vram_mb: int = Field(
        default=0, ge=0, description="VRAM the model needs in total (weights + cache), in MiB."
    )
    gpus: int = Field(
        default=1, ge=0, le=16, description="GPUs to spread it over (0: CPU only, no VRAM needed)."
    )
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Port of the engine; unset picks a free one."
    )
    extra_args: list[str] = Field(
        default_factory=list, description="Extra engine arguments, appended as given."
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment for the engine process.")
    command: list[str] | None = Field(
        default=None,
        description="Argv prefix that runs the engine (overrides the engine-wide default command).",
    )
    systemd_unit: str | None = Field(
        default=None,
        description="Start/stop this systemd unit instead of a child process (unit must use 'port').",
    )
    autostart: bool = Field(default=False, description="Start when the daemon starts.")
    start_timeout_s: Seconds = Field(
        default=600.0, description="Seconds to wait for the engine to be ready."
    )
    stop_grace_s: SecondsOrZero = Field(
        default=20.0, description="Seconds between SIGTERM and SIGKILL on stop."
    )
    completions_only: bool = Field(
        default=False, description="Base model without a chat template: route through /v1/completions only."
    )
    aliases: list[str] = Field(
        default_factory=list, description="Other names the router accepts for this model."
    )

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise ValueError(
                "expected 1-128 characters from letters, digits and . _ : / - "
                "(starting with a letter or digit)"
            )
        return v

    @field_validator("systemd_unit")
    @classmethod
    def _check_unit(cls, v: str | None) -> str | None:
        if v is not None and not _UNIT_RE.match(v):
            raise ValueError("expected a systemd unit name such as 'vllm-qwen.service'")
        return v

    @model_validator(mode="after")
    def _check_source(self) -> ModelSpec:
        if self.systemd_unit is not None:
            if self.port is None:
                raise ValueError(
                    f"model {self.id!r}: a systemd_unit needs the port the unit's engine listens on"
                )
            return self
        if self.engine == "vllm" and self.path is None and self.repo is None:
            raise ValueError(f"model {self.id!r}: vllm needs 'path' or 'repo'")
        if self.engine != "vllm" and self.repo is not None:
            raise ValueError(f"model {self.id!r}: 'repo' is for vllm only; give {self.engine} a local 'path'")
        if self.engine in ("llama-server", "tabbyapi") and self.path is None:
            what = "a GGUF file" if self.engine == "llama-server" else "an EXL3 model folder"
            raise ValueError(f"model {self.id!r}: {self.engine} needs 'path' ({what})")
        if self.gpus == 0 and self.vram_mb:
            raise ValueError(
                f"model {self.id!r}: vram_mb={self.vram_mb} but gpus=0 (CPU only); set gpus or drop vram_mb"
            )
        return self


class OllamaSource(_Strict):
    """An Ollama server to discover models on (not managed: Hydra never starts or stops it)."""

    url: str = Field(default="http://127.0.0.1:11434", description="Ollama base URL (without /v1).")
    tier: Tier = Field(default="fast", description="Tier for its models unless named in 'tiers'.")
    tiers: dict[str, Tier] = Field(
        default_factory=dict, description="Per-model tier, e.g. {'llama3:70b' = 'heavy'}."
    )
    context_length: int = Field(default=4096, gt=0, description="Context length announced for its models.")
    interval_s: Seconds = Field(default=10.0, description="Seconds between discoveries.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("expected an http(s):// URL such as http://127.0.0.1:11434")
        return v.rstrip("/")


class ModelsConfig(_Strict):
    """Section ``[models]``: engines and models on this (GPU) node."""

    entries: list[ModelSpec] = Field(
        default_factory=list, alias="model", description="Models this node serves."
    )
    ollama: list[OllamaSource] = Field(default_factory=list, description="Ollama servers to discover.")
    bind_host: str = Field(default="127.0.0.1", description="Address engines bind (0.0.0.0 for other nodes).")
    advertise_host: str | None = Field(
        default=None, description="Host put in announced URLs; default bind_host (127.0.0.1 if 0.0.0.0)."
    )
    vram_headroom_mb: int = Field(default=512, ge=0, description="VRAM left free on each GPU when placing.")
    health_interval_s: Seconds = Field(default=2.0, description="Seconds between engine health checks.")
    vllm_command: list[str] = Field(default_factory=lambda: ["vllm"], description="Argv prefix for vLLM.")
    llama_server_command: list[str] = Field(
        default_factory=lambda: ["llama-server"], description="Argv prefix for llama.cpp's llama-server."
    )
    tabbyapi_command: list[str] = Field(
        default_factory=lambda: ["python", "main.py"],
        description="Argv prefix for TabbyAPI (run in tabbyapi_dir).",
    )
    tabbyapi_dir: Path | None = Field(default=None, description="TabbyAPI checkout to run it in (its cwd).")
    systemctl: str = Field(
        default="systemctl", description="systemctl binary for models with a systemd_unit."
    )
    state_file: bool = Field(
        default=True,
        description="Also load models from <state_dir>/models.toml (written by 'hydra models install').",
    )

    @model_validator(mode="after")
    def _unique(self) -> ModelsConfig:
        seen: set[str] = set()
        for m in self.entries:
            if m.id in seen:
                raise ValueError(f"model id {m.id!r} is declared twice")
            seen.add(m.id)
        for key in ("vllm_command", "llama_server_command", "tabbyapi_command"):
            if not getattr(self, key):
                raise ValueError(f"{key} must not be empty")
        return self

    @property
    def announce_host(self) -> str:
        if self.advertise_host:
            return self.advertise_host
        return "127.0.0.1" if self.bind_host in ("0.0.0.0", "::", "") else self.bind_host

    def command_for(self, engine: ManagedEngine) -> list[str]:
        return {
            "vllm": self.vllm_command,
            "tabbyapi": self.tabbyapi_command,
            "llama-server": self.llama_server_command,
        }[engine]


def load_state_models(path: Path) -> list[ModelSpec]:
    """Models from ``<state_dir>/models.toml`` (``[[model]]`` tables); none when the file is absent."""



    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError) as e:
        raise ConfigError(f"{path} is not readable TOML: {e}") from None
    try:
        return ModelsConfig.model_validate({"model": data.get("model", [])}).entries
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {field}: {err['msg'].removeprefix('Value error, ')}") from None
