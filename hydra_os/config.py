"""Configuration: a TOML file, overridden by ``HYDRA_*`` environment variables.

Precedence (highest first): explicit overrides from the CLI, ``HYDRA_*`` env (nested with
``__``, e.g. ``HYDRA_API__PORT=8701``), the TOML file, then the defaults here.

The file is ``--config``, else ``$HYDRA_CONFIG``, else ``/etc/hydra-os/config.toml`` when it
exists. Secrets never live in the config: fields ending in ``_file`` name a file to read them
from (the NixOS module passes them with systemd credentials or ``environmentFile``).
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hydra_os.api.limits import DEFAULT_MAX_BODY
from hydra_os.bus.config import BusConfig as BusConfig  # re-exported: the bus owns its section
from hydra_os.bus.names import valid_node_id
from hydra_os.durations import Seconds
from hydra_os.errors import ConfigError
from hydra_os.notify import NotifyConfig
from hydra_os.secrets import read_secret_file as read_secret_file  # re-exported for older importers
from hydra_os.sections.backup import BackupConfig
from hydra_os.sections.healing import HealingConfig
from hydra_os.sections.inference import InferenceConfig
from hydra_os.sections.intake import IntakeConfig
from hydra_os.sections.models import ModelsConfig
from hydra_os.sections.policy import PolicyConfig
from hydra_os.sections.tasks import TasksConfig
from hydra_os.sections.ui import UiConfig
from memory.config import MemoryConfig
from pipelines.creative_config import CreativeConfig

DEFAULT_CONFIG_PATH = Path("/etc/hydra-os/config.toml")
ROLES = ("gateway", "gpu", "memory", "scheduler", "worker")
Role = Literal["gateway", "gpu", "memory", "scheduler", "worker"]


def default_state_dir() -> Path:
    """systemd's ``$STATE_DIRECTORY``, else ``$XDG_STATE_HOME/hydra-os``, else ``~/.local/state/hydra-os``."""
    if sd := os.environ.get("STATE_DIRECTORY"):
        return Path(sd.split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hydra-os"


def default_node_id() -> str:
    """The short hostname, reduced to the characters a NATS subject token allows."""
    name = socket.gethostname().split(".")[0]
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:64]
    return cleaned or "node"


def _all_roles() -> list[Role]:
    return ["gateway", "gpu", "memory", "scheduler", "worker"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NodeConfig(_Section):
    id: str = Field(default_factory=default_node_id, description="Node id; the short hostname by default.")
    roles: Annotated[list[Role], NoDecode] = Field(
        default_factory=lambda: _all_roles(), description="Components this node runs (env: comma-separated)."
    )
    state_dir: Path = Field(default_factory=default_state_dir, description="Where this node keeps its data.")
    stop_timeout: float = Field(
        default=20.0, ge=1, le=600,
        description="Seconds the whole shutdown may take; then the daemon logs what still runs and exits 1 "
        "(the NixOS module sets systemd's TimeoutStopSec to this plus 10 s).",
    )

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not valid_node_id(v):
            raise ValueError("expected 1-64 characters from A-Z, a-z, 0-9, '-' and '_'")
        return v

    @field_validator("roles", mode="before")
    @classmethod
    def _split_roles(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [r.strip() for r in v.split(",") if r.strip()]
        return v


class MembershipConfig(_Section):
    heartbeat_interval: Seconds = Field(default=1.0, description="Seconds between heartbeats.")
    gone_after: Seconds = Field(default=3.0, description="Seconds without a heartbeat before a node is gone.")

    @model_validator(mode="after")
    def _check(self) -> MembershipConfig:
        if self.gone_after <= self.heartbeat_interval:
            raise ValueError(
                f"gone_after ({self.gone_after}) must be larger than heartbeat_interval ({self.heartbeat_interval})"
            )
        return self


class ApiConfig(_Section):
    host: str = Field(default="127.0.0.1", description="Address the HTTP API binds.")
    port: int = Field(default=8700, ge=0, le=65535, description="HTTP API port; 0 picks a free one.")
    token_file: Path | None = Field(
        default=None, description="Bearer token file; default <state_dir>/api-token, generated on first run."
    )
    advertise_url: str | None = Field(default=None, description="URL other nodes use to reach this API.")
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY, ge=1024, le=1 << 30,
        description="Largest request body any route accepts (bytes); larger ones get 413.",
    )


class LogConfig(_Section):
    level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = Field(default=False, description="Write logs as JSON lines.")

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class OwnerConfig(_Section):
    name: str = "owner"
    timezone: str = Field(default="UTC", description="The owner's IANA time zone, e.g. Europe/Berlin.")
    wake_time: str = Field(default="07:00", description="When the morning briefing should be ready (HH:MM).")
    overnight_start: str = Field(default="01:00", description="Off-peak window start (HH:MM, owner's zone).")
    overnight_end: str = Field(default="06:00", description="Off-peak window end (HH:MM, owner's zone).")

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as 'Europe/Berlin'") from None
        return v

    @field_validator("wake_time", "overnight_start", "overnight_end")
    @classmethod
    def _check_hhmm(cls, v: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
            raise ValueError("expected a time as HH:MM (24-hour)")
        return v


class Settings(BaseSettings):
    """The effective configuration of one node."""

    model_config = SettingsConfigDict(
        env_prefix="HYDRA_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    node: NodeConfig = Field(default_factory=NodeConfig)
    bus: BusConfig = Field(default_factory=BusConfig)
    membership: MembershipConfig = Field(default_factory=MembershipConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    owner: OwnerConfig = Field(default_factory=OwnerConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig, description="Models this GPU node serves.")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="Autonomy policy, guards, approvals.")
    memory: MemoryConfig = Field(
        default_factory=MemoryConfig, description="Memory: core blocks, archival, graph, learnings, context."
    )
    tasks: TasksConfig = Field(default_factory=TasksConfig, description="Task queue, workers and scheduler.")
    healing: HealingConfig = Field(
        default_factory=HealingConfig, description="Self-healing checks, supervised children, NixOS rollback."
    )
    notify: NotifyConfig = Field(default_factory=NotifyConfig, description="Where owner notifications go.")
    intake: IntakeConfig = Field(
        default_factory=IntakeConfig, description="Requests in words, the research pipeline, the morning briefing."
    )
    backup: BackupConfig = Field(default_factory=BackupConfig, description="Backups: destination, retention, restic.")
    creative: CreativeConfig = Field(
        default_factory=CreativeConfig, description="The creative studio: projects, ComfyUI, voices, export."
    )

    ui: UiConfig = Field(default_factory=UiConfig, description="The owner's web page at /ui (gateway nodes).")

    _file_data: ClassVar[dict[str, Any]] = {}
    source_path: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, InitSettingsSource(settings_cls, cls._file_data))

    @property
    def state_dir(self) -> Path:
        return self.node.state_dir

    @property
    def api_token_path(self) -> Path:
        return self.api.token_file or self.node.state_dir / "api-token"


def resolve_config_path(explicit: Path | None) -> Path | None:
    """``--config``, else ``$HYDRA_CONFIG``, else the system file when present."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist; pass an existing TOML file to --config")
        return explicit
    if env := os.environ.get("HYDRA_CONFIG"):
        p = Path(env)
        if not p.is_file():
            raise ConfigError(f"HYDRA_CONFIG={env} does not exist; point it at a TOML file or unset it")
        return p
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def _describe(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            lines.append(f"{field}: unknown setting (value {e['input']!r}); check the spelling")
        else:
            lines.append(f"{field}: got {e['input']!r}, expected: {msg}")
    head = f"invalid configuration ({origin}): "
    return head + "; ".join(lines)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load the effective settings; raises :class:`ConfigError` with one readable line."""
    cfg_path = resolve_config_path(path)
    data: dict[str, Any] = {}
    if cfg_path is not None:
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {cfg_path} is not valid TOML: {e}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(
                f"config file {cfg_path} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
                "save it as UTF-8"
            ) from None
        except OSError as e:
            raise ConfigError(f"cannot read config file {cfg_path}: {e.strerror}") from None

    bound = type("BoundSettings", (Settings,), {"_file_data": data, "source_path": cfg_path})
    origin = f"{cfg_path} and HYDRA_* environment" if cfg_path else "HYDRA_* environment and defaults"
    try:
        settings: Settings = bound(**overrides)
    except ValidationError as e:
        raise ConfigError(_describe(e, origin)) from None
    except Exception as e:  # pydantic-settings raises SettingsError for undecodable env values
        raise ConfigError(f"invalid configuration ({origin}): {e}") from None
    return settings


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password or parts.username:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
    return url


def redacted_dict(settings: Settings) -> dict[str, Any]:
    """The effective config as plain data, credentials in URLs hidden, secret files named only."""
    data = settings.model_dump(mode="json")
    if data["bus"]["url"]:
        data["bus"]["url"] = [redact_url(u) for u in data["bus"]["url"]]
    return data
