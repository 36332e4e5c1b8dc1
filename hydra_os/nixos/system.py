"""Which system runs now (/run/current-system) and which one booted (/run/booted-system)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

from hydra_os.sections.nixos import NixosConfig


class SystemState(BaseModel):
    current: str | None
    booted: str | None
    profile: str | None

    @property
    def switched_since_boot(self) -> bool:
        """True when the running system is not the one that booted (a switch happened since)."""
        return self.current is not None and self.booted is not None and self.current != self.booted


def resolve(link: Path) -> str | None:
    """The store path a system link points at, or None when it does not exist."""
    if not link.exists():
        return None
    return os.path.realpath(link)


def system_state(cfg: NixosConfig) -> SystemState:
    return SystemState(
        current=resolve(cfg.current_system),
        booted=resolve(cfg.booted_system),
        profile=resolve(cfg.profile),
    )
