"""Import weight and shutdown: loading the config or the memory wiring pulls in no store library,
and a process stopped while MiniLM is still loading exits without waiting for the load."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from memory.embed.minilm import minilm_available
from tests.helpers import REPO

HEAVY = ["numpy", "qdrant_edge", "qdrant_client", "ladybug", "neo4j", "torch", "sentence_transformers", "letta_client",
         "onnxruntime", "tokenizers"]


def _modules_after(code: str) -> list[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=str(REPO), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import hydra_os.config; hydra_os.config.Settings",
        "import memory.config, memory.archival, memory.embed, memory.graph; memory.config.MemoryConfig()",
        "import memory.wiring",
    ],
)
def test_imports_pull_in_no_store_library(code: str) -> None:
    loaded = set(_modules_after(code))
    assert loaded & set(HEAVY) == set(), f"{code!r} imported {sorted(loaded & set(HEAVY))}"
    if "hydra_os.config" in code or "memory.config" in code:
        assert "httpx" not in _modules_after("import memory.config, memory.embed")


def test_lazy_names_still_resolve() -> None:
    loaded = set(_modules_after("from memory.archival import QdrantArchivalStore, BackgroundOptimizer\n"
                                "from memory.graph import CypherGraphStore\nfrom memory.embed import OpenAIEmbedder"))
    assert {"numpy", "httpx"} <= loaded


_EXIT_WHILE_LOADING = """
import asyncio, atexit, sys
from memory.embed.minilm import MiniLMEmbedder

async def main():
    emb = MiniLMEmbedder()  # instant: imports nothing heavy
    assert "torch" not in sys.modules
    task = asyncio.create_task(emb.embed(["hello"]))
    await asyncio.sleep(0.2)  # the worker is now importing torch / loading the model
    atexit.register(lambda: print("at-exit loaded=" + str(emb.loaded), flush=True))
    task.cancel()
    await emb.close()

asyncio.run(main())
print("loop-closed", flush=True)
"""


@pytest.mark.skipif(minilm_available() is not None, reason=str(minilm_available()))
def test_exit_does_not_wait_for_a_model_load() -> None:
    out = subprocess.run([sys.executable, "-c", _EXIT_WHILE_LOADING], cwd=str(REPO), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # Nothing waited for the load: neither asyncio.run (no default-executor thread) nor the
    # interpreter's exit (the worker is a daemon thread), so the model was still not loaded.
    assert lines == ["loop-closed", "at-exit loaded=False"], out.stdout
