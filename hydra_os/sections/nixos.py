"""``[healing.nixos]``: where the system profile lives and which binaries to run."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hydra_os.durations import Seconds, SecondsOrZero


class NixosConfig(BaseModel):
    """Paths are configurable so tests (and containers) can point them at a temp dir."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    profile: Path = Field(
        default=Path("/nix/var/nix/profiles/system"), description="The NixOS system profile (nix-env -p)."
    )
    current_system: Path = Field(
        default=Path("/run/current-system"), description="The running system's link."
    )
    booted_system: Path = Field(default=Path("/run/booted-system"), description="The booted system's link.")
    nix_env: str = Field(default="nix-env", description="nix-env executable (name on PATH or a path).")
    nixos_rebuild: str = Field(default="nixos-rebuild", description="nixos-rebuild executable.")
    flake: str | None = Field(
        default=None,
        description="What the safe switch builds, e.g. '/etc/nixos#gpu1' (nixos-rebuild --flake).",
    )
    gate_settle_s: SecondsOrZero = Field(
        default=2.0,
        description="Seconds to let services settle after activation before the health gate.",
    )
    helper_unit: bool = Field(
        default=False,
        description="Run rollbacks through the root helper unit hydra-os-nixos@VERB-GEN.service (systemctl start, "
        "allowed by polkit) instead of directly; the NixOS module turns this on for the unprivileged daemon.",
    )
    helper_result_dir: Path = Field(
        default=Path("/run/hydra-os-nixos"), description="Where the helper unit writes its JSON results."
    )
    build_timeout_s: Seconds = Field(default=3600.0, description="Limit for the build step.")
    activate_timeout_s: Seconds = Field(
        default=600.0, description="Limit for each switch-to-configuration run."
    )
