"""``[healing]``: what the healer watches, how often, and what it may touch (``HYDRA_HEALING__*`` too)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hydra_os.durations import Seconds
from hydra_os.sections.nixos import NixosConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class HttpTarget(_Section):
    name: str = Field(min_length=1, description="Short name; the target is 'http:<name>'.")
    url: str = Field(description="URL to GET.")
    expect_status: list[int] = Field(
        default_factory=lambda: list(range(200, 400)), description="Status codes that count as up."
    )
    timeout_s: Seconds = Field(default=3.0, description="Seconds before it counts as down.")
    depends_on: list[str] = Field(default_factory=list, description="Targets it needs (for grouping).")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {v!r}")
        return v


class ModelTarget(_Section):
    name: str = Field(min_length=1, description="Short name; the target is 'model:<name>'.")
    base_url: str = Field(description="OpenAI-compatible base URL ending in /v1.")
    model: str = Field(description="Model id to put in the request.")
    completions_only: bool = Field(default=False, description="Use /completions instead of /chat/completions.")
    timeout_s: Seconds = Field(default=20.0, description="Seconds the one-token completion may take.")
    process: str | None = Field(default=None, description="Supervised child serving it (restart fixup).")
    depends_on: list[str] = Field(default_factory=list, description="Targets it needs (for grouping).")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL ending in /v1, got {v!r}")
        return v.rstrip("/")


class DiskTarget(_Section):
    path: Path = Field(description="A path on the filesystem to watch.")
    min_free_pct: float = Field(default=10.0, ge=0, le=100, description="Below this free share it is an issue.")
    min_free_gb: float = Field(default=0.0, ge=0, description="Below this many free GiB it is an issue.")


class ChildSpec(_Section):
    """A process the daemon starts and supervises (a model engine, a helper)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Unique name; target 'process:<name>'.")
    argv: list[str] = Field(min_length=1, description="Argument list (no shell).")
    kind: Literal["engine", "process"] = Field(default="process", description="'engine' for model engines.")
    health_url: str | None = Field(default=None, description="GET this; 2xx = healthy. Unset: alive = healthy.")
    start_timeout_s: Seconds = Field(default=30.0, description="Seconds to become healthy after start.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    cwd: Path | None = Field(default=None, description="Working directory.")


class HealingConfig(_Section):
    enabled: bool = Field(default=True, description="Run the healer on this node.")
    interval_s: Seconds = Field(default=10.0, description="Seconds between full check rounds.")
    check_timeout_s: Seconds = Field(default=30.0, description="Limit for one check's run.")
    disabled_checks: list[str] = Field(default_factory=list, description="Check names not to run.")
    disabled_fixups: list[str] = Field(default_factory=list, description="Fixup names never to use.")
    systemctl: str = Field(default="systemctl", description="systemctl executable (name or path).")
    units: list[str] = Field(default_factory=list, description="systemd units to watch (e.g. ollama.service).")
    http: list[HttpTarget] = Field(default_factory=list, description="HTTP endpoints to watch.")
    models: list[ModelTarget] = Field(default_factory=list, description="Model endpoints (one-token test).")
    disks: list[DiskTarget] = Field(
        default_factory=list,
        description="Filesystems to watch. Empty: the state dir and the model dirs' filesystems (default floors).",
    )
    default_disk_min_free_pct: float = Field(
        default=5.0, ge=0, le=100, description="Free-share floor of the default disk watch."
    )
    default_disk_min_free_gb: float = Field(default=2.0, ge=0, description="Free-GiB floor of the default disk watch.")
    watch_nodes: bool = Field(default=True, description="An incident when another node of the cluster is gone.")
    cache_dirs: list[Path] = Field(
        default_factory=list, description="Caches the free-disk fixup may empty (oldest files first); nothing else."
    )
    gpu_max_temp_c: int = Field(default=85, gt=0, le=130, description="GPU temperature that counts as overheating.")
    check_bus: bool = Field(default=True, description="Check the bus answers a PING.")
    bus_timeout_s: Seconds = Field(default=2.0, description="Seconds the bus has to answer.")
    dependencies: dict[str, list[str]] = Field(
        default_factory=dict, description="target -> targets it depends on (one incident per root cause)."
    )
    children: list[ChildSpec] = Field(default_factory=list, description="Processes the daemon supervises.")
    watch_interval_s: Seconds = Field(
        default=0.2, description="Supervisor: seconds between liveness looks at its children."
    )
    probe_interval_s: Seconds = Field(
        default=1.0, description="Supervisor: seconds between health probes of running children."
    )
    probe_failures: int = Field(default=2, ge=1, description="Supervisor: failed probes in a row = unhealthy.")
    nixos: NixosConfig = Field(default_factory=NixosConfig, description="NixOS paths and the safe switch.")
    nixos_rollback_on_failure: bool = Field(
        default=True,
        description="Offer a NixOS rollback for critical issues while the system differs from the booted one "
        "(the policy's nixos.rollback level decides; INFORM_AFTER by default).",
    )
    incidents_kept: int = Field(default=500, ge=10, description="Resolved incidents kept in the store.")

    @model_validator(mode="after")
    def _unique(self) -> HealingConfig:
        for what, names in (
            ("children", [c.name for c in self.children]),
            ("http", [h.name for h in self.http]),
            ("models", [m.name for m in self.models]),
        ):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"healing.{what}: name {sorted(dup)[0]!r} is used twice")
        return self
