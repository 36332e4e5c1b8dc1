"""A node on the default config (``./scripts/run``: embedded bus, default embedder) remembers and
searches through `hydra memory`; a broken embedder is reported, not served; a store built with the
previous embedder keeps working after `hydra memory reindex`. Real daemons, real CLI processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from memory.embed import minilm_available
from tests.helpers import REPO, DaemonProc, daemon_env, wait_for
from tests.memory.conftest import shadow_corrupt_model

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ONNX_MODEL = "all-MiniLM-L6-v2-onnx-int8"


def hydra(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hydra_os", *args], cwd=str(REPO), env=env,
                          capture_output=True, text=True, timeout=120)


def ok(env: dict[str, str], *args: str) -> str:
    r = hydra(env, *args)
    assert r.returncode == 0, f"hydra {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def memory_status(d: DaemonProc) -> dict[str, Any]:
    with d.client() as c:
        return dict(c.get("/v1/status").json()["components"]["memory"])


def settled(d: DaemonProc) -> bool:
    return memory_status(d)["state"] in ("serving", "error")


def default_node(name: str, state: Path, **extra: str) -> tuple[DaemonProc, dict[str, str]]:
    """A daemon on the defaults (embedded bus, all roles) and the CLI environment that reaches it."""
    env = daemon_env(HYDRA_NODE__STATE_DIR=str(state), HYDRA_CONFIG="", **extra)
    return DaemonProc(name, state, env), env


def test_fresh_default_node_remembers_and_searches(tmp_path: Path) -> None:
    d, cli = default_node("fresh", tmp_path / "fresh")
    try:
        d.start(timeout=60)
        wait_for(lambda: settled(d), 120, what="memory opened")
        st = memory_status(d)
        assert st["state"] == "serving" and st["embed_backend"] == "onnx", st
        ok(cli, "memory", "remember", "My favourite editor is Helix")
        ok(cli, "memory", "remember", "The backup NAS sits in the hallway cupboard")
        hits = json.loads(ok(cli, "memory", "search", "which text editor do I use?", "--json"))
        assert hits[0]["passage"]["text"] == "My favourite editor is Helix"
        assert memory_status(d)["embedding_model"] == ONNX_MODEL
        assert httpx.get(d.api_url + "/readyz").json() == {"ready": True, "failing": []}
    finally:
        d.stop()


def test_broken_embedder_is_reported_not_served(tmp_path: Path) -> None:
    shadow = shadow_corrupt_model(tmp_path / "shadow")  # a corrupted model package, found first
    path = os.pathsep.join(p for p in (str(shadow), os.environ.get("PYTHONPATH", "")) if p)
    d, cli = default_node("broken", tmp_path / "broken", PYTHONPATH=path)
    try:
        d.start(timeout=60)
        wait_for(lambda: settled(d), 120, what="memory open attempted")
        st = memory_status(d)
        assert st["state"] == "error" and "model.onnx has sha256" in st["error"], st
        ready = httpx.get(d.api_url + "/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "failing": ["memory"]}
        r = hydra(cli, "memory", "remember", "My favourite editor is Helix")
        assert r.returncode != 0 and "memory" in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        d.stop()


def test_store_from_the_previous_embedder_works_after_reindex(tmp_path: Path) -> None:
    """The upgrade path: passages embedded by the previous default (the torch MiniLM where installed,
    else another real embedder) are refused by name, then re-embedded by `hydra memory reindex`."""
    old = "minilm" if minilm_available() is None else "hashing"
    state = tmp_path / "upgraded"
    before = daemon_env(HYDRA_NODE__STATE_DIR=str(state), HYDRA_CONFIG="", HYDRA_MEMORY__EMBED__BACKEND=old)
    ok(before, "memory", "remember", "My favourite editor is Helix", "--offline")
    ok(before, "memory", "remember", "The backup NAS sits in the hallway cupboard", "--offline")
    d, cli = default_node("upgraded", state)
    try:
        d.start(timeout=60)
        wait_for(lambda: settled(d), 120, what="memory opened")
        st = memory_status(d)
        assert st["state"] == "serving" and st["embedder_model"] == ONNX_MODEL, st
        assert st["embedding_model"] != ONNX_MODEL and "hydra memory reindex" in st["warning"]
        refused = hydra(cli, "memory", "search", "which text editor do I use?")
        assert refused.returncode == 2 and "hydra memory reindex" in refused.stderr, refused.stderr
        assert f"reindexed 2 passages with {ONNX_MODEL}" in ok(cli, "memory", "reindex")
        hits = json.loads(ok(cli, "memory", "search", "which text editor do I use?", "--json"))
        assert hits[0]["passage"]["text"] == "My favourite editor is Helix"
        st = memory_status(d)
        assert st["embedding_model"] == ONNX_MODEL and "warning" not in st
    finally:
        d.stop()
