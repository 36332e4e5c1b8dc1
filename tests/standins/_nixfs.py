"""Shared by the stand-in ``nix-env`` and ``nixos-rebuild``: a fake Nix profile on a temp dir.

The fake root is $STANDIN_NIX_ROOT (tests set it); under it live nix/store, nix/var/nix/profiles/system
(a symlink to system-N-link, each a symlink into the store, exactly like real Nix profiles),
run/current-system, run/booted-system and boot/default (what the "bootloader" boots).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

ROOT = Path(os.environ.get("STANDIN_NIX_ROOT", "/nonexistent-nix-standin"))
PROFILE = ROOT / "nix/var/nix/profiles/system"
_LINK = re.compile(r"^(?P<name>.+)-(?P<n>\d+)-link$")


def generations(profile: Path) -> list[tuple[int, Path]]:
    """(number, link path) sorted by number."""
    out = []
    if profile.parent.is_dir():
        for p in profile.parent.iterdir():
            m = _LINK.match(p.name)
            if m and m.group("name") == profile.name:
                out.append((int(m.group("n")), p))
    return sorted(out)


def current(profile: Path) -> int | None:
    if not profile.is_symlink():
        return None
    m = _LINK.match(os.readlink(profile))
    return int(m.group("n")) if m else None


def point_profile(profile: Path, n: int) -> None:
    tmp = profile.with_name(profile.name + ".tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(f"{profile.name}-{n}-link")
    os.replace(tmp, profile)


def add_generation(profile: Path, target: str) -> int:
    profile.parent.mkdir(parents=True, exist_ok=True)
    gens = generations(profile)
    n = (gens[-1][0] if gens else 0) + 1
    link = profile.with_name(f"{profile.name}-{n}-link")
    link.symlink_to(target)
    point_profile(profile, n)
    return n


def list_lines(profile: Path) -> list[str]:
    """nix-env's format: ``"%4u   %4u-%02u-%02u %02u:%02u:%02u   %s"`` ("(current)" or empty)."""
    cur = current(profile)
    lines = []
    for n, link in generations(profile):
        t = time.localtime(link.lstat().st_mtime)
        mark = "(current)" if n == cur else ""
        lines.append(f"{n:4d}   {time.strftime('%Y-%m-%d %H:%M:%S', t)}   {mark}")
    return lines
