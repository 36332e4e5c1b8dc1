"""Every .nix file in the repository parses (``nix-instantiate --parse``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.nix.nixeval import NIX_INSTANTIATE, REPO, requires_nix

SKIP_DIRS = {".git", ".venv", "node_modules", "result", "build", "dist"}


def nix_files() -> list[str]:
    found = []
    for p in REPO.rglob("*.nix"):
        rel = p.relative_to(REPO)
        if not SKIP_DIRS.intersection(rel.parts):
            found.append(str(rel))
    return sorted(found)


def test_the_expected_nix_files_exist() -> None:
    files = nix_files()
    for expected in ("flake.nix", "modules/hydra-os.nix", "nodes/gpu-node.nix", "nodes/compute-node.nix",
                     "nodes/storage-node.nix", "tests/nix/eval.nix", "tests/nix/standin/lib.nix"):
        assert expected in files


@requires_nix
@pytest.mark.parametrize("path", nix_files())
def test_parses(path: str) -> None:
    assert NIX_INSTANTIATE is not None
    proc = subprocess.run([NIX_INSTANTIATE, "--parse", path], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, f"{path} does not parse:\n{proc.stderr}"


@requires_nix
def test_a_syntax_error_is_reported(tmp_path: Path) -> None:  # the check above can fail
    assert NIX_INSTANTIATE is not None
    bad = tmp_path / "bad.nix"
    bad.write_text("{ a = 1 }\n")
    proc = subprocess.run([NIX_INSTANTIATE, "--parse", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "syntax error" in proc.stderr
