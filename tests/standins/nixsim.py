"""Set up the NixOS stand-ins on a temp dir (used by tests/nixos, tests/healing and bench/healing.py).

``NixSim(tmp).install_first()`` builds generation 1 with the stand-in nixos-rebuild, sets the profile
with the stand-in nix-env, and points run/current-system and run/booted-system at it, as after a boot.
Environment for the stand-ins (``STANDIN_NIX_ROOT``, ``SYSTEMCTL_STANDIN_DIR``) is returned by ``env()``
and must be in the environment of the process that runs them (tests use monkeypatch.setenv).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hydra_os.sections.nixos import NixosConfig

STANDINS = Path(__file__).resolve().parent


class NixSim:
    def __init__(self, base: Path, host: str = "testhost") -> None:
        self.base = base
        self.root = base / "nixroot"
        self.flake_dir = base / "flake"
        self.systemctl_dir = base / "systemd"
        self.host = host
        self.root.mkdir(parents=True, exist_ok=True)
        self.flake_dir.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        return {"STANDIN_NIX_ROOT": str(self.root), "SYSTEMCTL_STANDIN_DIR": str(self.systemctl_dir)}

    def config(self, **kw: object) -> NixosConfig:
        values: dict[str, object] = {
            "profile": self.root / "nix/var/nix/profiles/system",
            "current_system": self.root / "run/current-system",
            "booted_system": self.root / "run/booted-system",
            "nix_env": str(STANDINS / "nix-env"),
            "nixos_rebuild": str(STANDINS / "nixos-rebuild"),
            "flake": f"{self.flake_dir}#{self.host}",
            "gate_settle_s": 0.0,
        }
        values.update(kw)
        return NixosConfig.model_validate(values)

    def describe(self, revision: str, failed_units: list[str] | None = None, **extra: object) -> None:
        """What the next ``nixos-rebuild build`` produces."""
        desc = {"revision": revision, "failed_units": failed_units or [], **extra}
        (self.flake_dir / "standin-system.json").write_text(json.dumps(desc))

    def _run(self, *argv: str, cwd: Path | None = None) -> str:
        env = {**os.environ, **self.env()}
        out = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, check=True)
        return out.stdout

    def add_generation(self, revision: str, failed_units: list[str] | None = None) -> str:
        """Build a system and make it the profile's next generation without activating it."""
        self.describe(revision, failed_units)
        build = self.base / f"build-{revision}"
        build.mkdir(exist_ok=True)
        self._run(str(STANDINS / "nixos-rebuild"), "build", "--flake", f"{self.flake_dir}#{self.host}", cwd=build)
        top = os.path.realpath(build / "result")
        self._run(str(STANDINS / "nix-env"), "-p", str(self.root / "nix/var/nix/profiles/system"), "--set", top)
        return top

    @staticmethod
    def break_activation(link: Path) -> None:
        """Make a generation's switch-to-configuration fail the way a failed unit does (exit 4)."""
        stc = Path(os.path.realpath(link)) / "bin" / "switch-to-configuration"
        stc.write_text("#!/bin/sh\necho 'warning: the following units failed: nginx.service' >&2\nexit 4\n")

    def install_first(self, revision: str = "rev-good") -> str:
        """Generation 1, running and booted. Returns its toplevel."""
        self.describe(revision)
        build = self.base / "first-build"
        build.mkdir(exist_ok=True)
        self._run(str(STANDINS / "nixos-rebuild"), "build", "--flake", f"{self.flake_dir}#{self.host}", cwd=build)
        top = os.path.realpath(build / "result")
        self._run(str(STANDINS / "nix-env"), "-p", str(self.root / "nix/var/nix/profiles/system"), "--set", top)
        run = self.root / "run"
        run.mkdir(parents=True, exist_ok=True)
        for name in ("current-system", "booted-system"):
            link = run / name
            if link.is_symlink():
                link.unlink()
            link.symlink_to(top)
        return top

    def current(self) -> str:
        return os.path.realpath(self.root / "run/current-system")

    def boot_default(self) -> str | None:
        p = self.root / "boot/default"
        return p.read_text() if p.exists() else None

    def calls(self) -> list[list[str]]:
        p = self.root / "calls.log"
        return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []

    def config_file(self, path: Path, result_dir: Path) -> Path:
        """A hydra config.toml whose [healing.nixos] points at the stand-ins (what the helper reads)."""
        cfg = self.config(helper_unit=True, helper_result_dir=result_dir)
        lines = ["[healing.nixos]"] + [f"{k} = {json.dumps(str(v))}" for k, v in cfg.model_dump().items()
                                       if isinstance(v, (str, Path))]
        lines += [f"{k} = {json.dumps(v)}" for k, v in cfg.model_dump().items()
                  if isinstance(v, (bool, int, float)) and not isinstance(v, str)]
        path.write_text("\n".join(lines) + "\n")
        return path

    def install_helper_unit(self, config: Path, result_dir: Path) -> None:
        """``hydra-os-nixos@.service`` in the systemctl stand-in, running the real helper program as the
        NixOS module's unit does (ExecStart with %i, HYDRA_CONFIG and the result dir in its environment)."""
        units = self.systemctl_dir / "units"
        units.mkdir(parents=True, exist_ok=True)
        spec = {"ExecStart": [sys.executable, "-m", "hydra_os.nixos.helper", "%i"],
                "Environment": {"HYDRA_CONFIG": str(config), "HYDRA_NIXOS_RESULT_DIR": str(result_dir),
                                **self.env()}}
        (units / "hydra-os-nixos@.service.json").write_text(json.dumps(spec))
