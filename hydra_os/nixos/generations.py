"""System generations: ``nix-env --list-generations -p PROFILE``, ``nixos-rebuild list-generations --json``.

nix-env prints ``"%4u   %4u-%02u-%02u %02u:%02u:%02u   %s"`` per generation (the last field is
``(current)`` or empty). ``nixos-rebuild list-generations --json`` (NixOS 23.11+) prints a JSON list of
objects with generation, date, nixosVersion, kernelVersion, configurationRevision, specialisations and
current; we prefer it where present for the richer fields and fall back to nix-env.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from hydra_os.command import CommandError, run_command
from hydra_os.nixos.errors import NixosError
from hydra_os.sections.nixos import NixosConfig

_LINE = re.compile(r"^\s*(\d+)\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*(\(current\))?\s*$")


class Generation(BaseModel):
    number: int = Field(ge=0)
    date: str = Field(description="As the tool printed it (local time).")
    current: bool = False
    nixos_version: str | None = None
    kernel_version: str | None = None
    configuration_revision: str | None = None
    specialisations: list[str] = Field(default_factory=list)


def parse_nix_env(text: str) -> list[Generation]:
    """Parse nix-env's listing; raises NixosError on a line it does not understand."""
    gens = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        m = _LINE.match(raw)
        if not m:
            raise NixosError(f"unexpected line from nix-env --list-generations: {raw!r}")
        datetime.strptime(m.group(2), "%Y-%m-%d %H:%M:%S")
        gens.append(Generation(number=int(m.group(1)), date=m.group(2), current=bool(m.group(3))))
    return sorted(gens, key=lambda g: g.number)


def parse_rebuild_json(text: str) -> list[Generation]:
    """Parse ``nixos-rebuild list-generations --json``."""
    try:
        data: Any = json.loads(text)
        if not isinstance(data, list):
            raise ValueError("expected a JSON list")
        gens = [
            Generation(
                number=int(d["generation"]),
                date=str(d.get("date", "")),
                current=bool(d.get("current", False)),
                nixos_version=d.get("nixosVersion") or None,
                kernel_version=d.get("kernelVersion") or None,
                configuration_revision=d.get("configurationRevision") or None,
                specialisations=list(d.get("specialisations") or []),
            )
            for d in data
        ]
    except (ValueError, KeyError, TypeError, ValidationError) as e:
        raise NixosError(f"unexpected output from nixos-rebuild list-generations --json: {e}") from None
    return sorted(gens, key=lambda g: g.number)


async def list_generations(cfg: NixosConfig, *, prefer_json: bool = True) -> list[Generation]:
    """The profile's generations, oldest first."""
    if prefer_json:
        try:
            res = await run_command([cfg.nixos_rebuild, "list-generations", "--json"], limit_s=60)
            if res.ok and res.stdout.strip().startswith("["):
                return parse_rebuild_json(res.stdout)
        except CommandError:
            pass  # older NixOS or no nixos-rebuild: nix-env below
    try:
        res = await run_command([cfg.nix_env, "--list-generations", "-p", str(cfg.profile)], limit_s=60)
    except CommandError as e:
        raise NixosError(str(e)) from None
    if not res.ok:
        raise NixosError(f"cannot list generations: {res.brief()}")
    return parse_nix_env(res.stdout)
