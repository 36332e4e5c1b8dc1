"""Run ``nix-instantiate`` (Debian's nix-bin, Nix 2.8; no nixpkgs, no flakes) for the Nix tests.

``eval_host`` evaluates tests/nix/eval.nix: modules/hydra-os.nix (plus an optional example host
and extra modules written as Nix source) through the module-system stand-in in
tests/nix/standin/, and returns its JSON. ``eval_expr`` evaluates an expression with the
stand-in ``lib`` in scope, for tests of the stand-in itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EVAL_NIX = HERE / "eval.nix"
LIB_NIX = HERE / "standin" / "lib.nix"
NIX_INSTANTIATE = shutil.which("nix-instantiate")

requires_nix = pytest.mark.skipif(
    NIX_INSTANTIATE is None,
    reason="nix-instantiate not found: install Debian's nix-bin "
    "(apt-get install nix-bin; ./scripts/test does it as root)",
)


class NixError(Exception):
    """nix-instantiate failed; ``str(err)`` is its stderr."""


def _run(args: list[str]) -> Any:
    assert NIX_INSTANTIATE is not None
    proc = subprocess.run(
        [NIX_INSTANTIATE, "--eval", "--strict", "--json", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    if proc.returncode != 0:
        raise NixError(proc.stderr)
    return json.loads(proc.stdout)


def eval_host(
    *modules: str,
    host: str | None = None,
    package_out_path: Path | None = None,
    flake_wrapper: bool = False,
) -> dict[str, Any]:
    """Evaluate the module with extra modules given as Nix source text (``{ lib, ... }: { ... }`` or ``{ ... }``)."""
    args = [str(EVAL_NIX), "--arg", "modules", "[ " + " ".join(f"({m})" for m in modules) + " ]"]
    if host is not None:
        args += ["--argstr", "host", host]
    if package_out_path is not None:
        args += ["--argstr", "packageOutPath", str(package_out_path)]
    if flake_wrapper:
        args += ["--arg", "flakeWrapper", "true"]
    result: dict[str, Any] = _run(args)
    return result


def eval_expr(body: str) -> Any:
    """Evaluate ``body`` with ``lib`` (the stand-in) and ``types`` in scope."""
    expr = f"let lib = import {LIB_NIX}; inherit (lib) types; in {body}"
    return _run(["-E", expr])


ENABLE = "{ services.hydra-os.enable = true; }"
