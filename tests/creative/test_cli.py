"""``hydra creative ...`` in-process (typer's CliRunner) against a node serving the ``creative`` verb on a
real nats-server: create, set (merge, rename), list, show, review, and a bad field named."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from hydra_os.bus.client import Bus
from hydra_os.cli.app import app
from hydra_os.config import BusConfig
from hydra_os.node.rpc import NodeRpc
from pipelines.creative.api import VERB, rpc_handler
from pipelines.creative.service import CreativeService
from pipelines.creative.store import ProjectStore
from tests.helpers import NatsProc
from tests.standins.comfyui import png_bytes


@pytest.fixture
def creative_node(nats_proc: NatsProc, tmp_path: Path) -> Iterator[ProjectStore]:
    """Node ``n1``'s creative verb, served from a loop in a thread (the CLI runs its own asyncio.run)."""
    store = ProjectStore(tmp_path / "creative")
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), asyncio.Event()

    async def serve() -> None:
        async with Bus([nats_proc.url], BusConfig(), name="n1") as bus:
            node = NodeRpc(bus, "n1")
            node.handle(VERB, rpc_handler(CreativeService(store)))
            await node.start()
            ready.set()
            await stop.wait()
            await node.stop()

    t = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    t.start()
    assert ready.wait(20)
    yield store
    loop.call_soon_threadsafe(stop.set)
    t.join(10)


def test_the_cli_creates_and_changes_a_project(creative_node: ProjectStore, nats_proc: NatsProc,
                                               tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"HYDRA_NODE__ID": "n1", "HYDRA_NODE__STATE_DIR": str(tmp_path / "state"),
           "HYDRA_BUS__URL": nats_proc.url, "HYDRA_CONFIG": ""}

    def hydra(*args: str, code: int = 0) -> str:
        r = runner.invoke(app, ["creative", *args], env=env)
        assert r.exit_code == code, r.output
        return r.output

    out = hydra("project", "create", "ebq", "title=Empire of Broken Queens", "style=painted")
    assert '"revision": 1' in out
    hydra("character", "set", "ebq", "aria", "name=Aria", "voice.speed=1.2", "colour=#ff8080")
    hydra("chapter", "set", "ebq", "ch1", "title=Ashes", "order=1")
    hydra("scene", "set", "ebq", "s1", "chapter=ch1", "title=The broken crown", "characters=[\"aria\"]")
    out = hydra("character", "set", "ebq", "aria", "name=Queen Aria")
    assert '"renamed_from": "Aria"' in out
    p = asyncio.run(creative_node.get("ebq"))
    aria = p.characters["aria"]
    assert (aria.name, aria.voice.speed, aria.colour) == ("Queen Aria", 1.2, "#ff8080")  # merged, not replaced
    assert "ebq  Empire of Broken Queens  1 characters, 0/1 scenes done" in hydra("project", "list")
    assert '"op": "put"' in hydra("project", "show", "ebq", "--history")
    out = hydra("character", "set", "ebq", "zoe", "name=Zoe", "voice.pitch=150", code=2)
    assert "character.voice.pitch" in out and "less than or equal to 99" in out
    out = hydra("review", "ebq", "s1", "rejected", "--line", "l1", code=2)
    assert "no line 'l1'" in out


def test_the_cli_adds_a_reference_image_and_refuses_what_it_cannot_send(
        creative_node: ProjectStore, nats_proc: NatsProc, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"HYDRA_NODE__ID": "n1", "HYDRA_NODE__STATE_DIR": str(tmp_path / "state"),
           "HYDRA_BUS__URL": nats_proc.url, "HYDRA_CONFIG": ""}

    def hydra(*args: str, code: int = 0) -> str:
        r = runner.invoke(app, ["creative", *args], env=env)
        assert r.exit_code == code, r.output
        return r.output

    hydra("project", "create", "ebq", "title=Empire of Broken Queens")
    hydra("character", "set", "ebq", "aria", "name=Aria")
    ref = tmp_path / "aria face.png"
    ref.write_bytes(png_bytes(7, 256, 256))
    out = hydra("character", "reference", "add", "ebq", "aria", str(ref))
    assert '"target": "character:aria"' in out
    sha = hashlib.sha256(ref.read_bytes()).hexdigest()
    refs = asyncio.run(creative_node.get("ebq")).characters["aria"].references
    assert [(r.path, r.sha256) for r in refs] == [(f"references/aria_{sha[:12]}.png", sha)]
    assert (creative_node.dir("ebq") / refs[0].path).read_bytes() == ref.read_bytes()
    # not a PNG: the node says so, nothing is stored
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    assert "expected the bytes of a PNG image" in hydra("character", "reference", "add", "ebq", "aria", str(bad),
                                                        code=2)
    assert "no character 'zoe'" in hydra("character", "reference", "add", "ebq", "zoe", str(ref), code=2)
    # a PNG too large for one bus message: a clear refusal naming the HTTP route, not a bus error
    big = tmp_path / "big.png"
    Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3)).save(big)
    out = hydra("character", "reference", "add", "ebq", "aria", str(big), code=2)
    assert "over the server's max_payload" in out and "/v1/creative/projects/ebq/characters/aria/references" in out
    assert len(asyncio.run(creative_node.get("ebq")).characters["aria"].references) == 1
