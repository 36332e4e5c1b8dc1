"""The memory client's handshake: ``hello`` asks for the node and its embedding model only, so a
``/v1/memory`` request does not make the memory node count every store (``info``); a memory node
from before ``hello`` still answers the handshake with ``info``. Counted through the memory
service's own micro stats endpoint on a real nats-server, with a real daemon behind it.

``/v1/memory/*``, the intake, the web page and the gateway keep one long-lived client
(:class:`memory.client.MemoryLink`): one handshake, not one per request, and a new one after the memory
node restarts or went away."""

from __future__ import annotations

import json
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from hydra_os.bus.client import Bus
from hydra_os.bus.names import MEMORY_SERVICE_NAME, memory_rpc
from memory.client import MemoryClient, MemoryLink
from memory.errors import MemoryUnavailableError
from memory.service import MemoryService
from memory.wiring import LocalMemory, open_local
from tests.helpers import DaemonProc, NatsProc, daemon_env, wait_for
from tests.memory.conftest import hashing_config

SEARCHES = 5


async def _requests_by_verb(url: str) -> dict[str, int]:
    """``num_requests`` per endpoint, from ``$SRV.STATS.hydra-memory`` (nats micro's stats verb)."""
    nc = await nats.connect(url)
    try:
        msg = await nc.request(f"$SRV.STATS.{MEMORY_SERVICE_NAME}", b"", timeout=10)
    finally:
        await nc.close()
    stats = json.loads(msg.data)
    return {e["subject"]: int(e["num_requests"]) for e in stats["endpoints"]}


@pytest.mark.e2e
@pytest.mark.timeout(300)
async def test_memory_requests_do_not_make_the_memory_node_count_its_stores(
    tmp_path: Path, nats_proc: NatsProc
) -> None:
    node = DaemonProc("mem", tmp_path / "mem", daemon_env(
        HYDRA_BUS__URL=nats_proc.url, HYDRA_NODE__ROLES="memory", HYDRA_MEMORY__EMBED__BACKEND="hashing"))
    try:
        node.start(timeout=120)  # generous: the machine is shared
        with node.client() as c:
            wait_for(lambda: c.get("/v1/memory/search", params={"q": "ping"}).status_code == 200, 180,
                     what="memory served")
            remember = {"text": "remember that the spare NAS disk 0 is in the attic"}
            assert c.post("/v1/requests", json=remember).json()["status"] == "remembered"  # the intake's handshake
            before = await _requests_by_verb(nats_proc.url)
            for i in range(SEARCHES):
                r = c.get("/v1/memory/search", params={"q": f"where is the NAS {i}"})
                assert r.status_code == 200, r.text
                r = c.post("/v1/requests", json={"text": f"remember that the spare NAS disk {i + 1} is in the attic"})
                assert r.status_code == 200 and r.json()["status"] == "remembered", r.text
        after = await _requests_by_verb(nats_proc.url)
    finally:
        node.stop()
    searched = after[memory_rpc("archival.search")] - before[memory_rpc("archival.search")]
    assert searched == SEARCHES
    assert after[memory_rpc("info")] == before[memory_rpc("info")], "a /v1/memory request ran the full info scan"
    # one long-lived client: the handshake was made by the first request, before `before`; none since
    assert after[memory_rpc("hello")] == before[memory_rpc("hello")], "a request made its own handshake"


async def test_a_memory_node_from_before_hello_answers_the_handshake_with_info(bus: Bus) -> None:
    """A stand-in for an older memory node: it serves ``info`` (the full report) and no ``hello``."""
    asked: list[str] = []

    async def info(msg: Msg) -> None:
        asked.append(msg.subject)
        report: dict[str, object] = {
            "node": "old-node", "embedding_model": "hashing-bow-v1-384", "configured_embedder": None,
            "stores": {}, "passages": 3, "graph": None, "learnings": 0, "blocks": [],
        }
        await msg.respond(json.dumps({"result": report}).encode())

    sub = await bus.nc.subscribe(memory_rpc("info"), cb=info)
    try:
        client = await MemoryClient(bus, timeout=10).open()
    finally:
        await sub.unsubscribe()
    assert asked == [memory_rpc("info")]
    assert client.stack().archival.embedding_model == "hashing-bow-v1-384"


async def _local(tmp: Path, dim: int) -> LocalMemory:
    cfg = hashing_config()
    cfg.embed.dim = dim  # another embedding model: the restarted node must be asked again
    return await open_local(cfg, tmp)


async def test_a_long_lived_link_handshakes_once_and_again_after_the_memory_node_restarts(
    bus: Bus, tmp_path: Path
) -> None:
    hellos: list[str] = []

    async def seen(msg: Msg) -> None:  # a plain subscriber gets every request too (the service is a queue group)
        hellos.append(msg.subject)

    watch = await bus.nc.subscribe(memory_rpc("hello"), cb=seen)
    first, second = await _local(tmp_path / "a", 384), await _local(tmp_path / "b", 256)
    link = MemoryLink(bus, timeout=10)
    try:
        async with MemoryService(bus, first.stack, "node-a"):
            for i in range(SEARCHES):
                await (await link.get()).archival.search(f"where is the NAS {i}")
            await bus.nc.flush()
            assert len(hellos) == 1, "one handshake for every request"
            assert link.client.embedding_model == "hashing-bow-v1-384"
        async with MemoryService(bus, second.stack, "node-b"):  # restarted, with nothing asked in between
            await (await link.get()).archival.search("served by the new start, which names itself")
            for i in range(SEARCHES):
                await (await link.get()).archival.search(f"where is the NAS {i}")
            await bus.nc.flush()
            assert len(hellos) == 2, "a restarted memory node is handshaken again, once"
            assert link.client.embedding_model == "hashing-bow-v1-256"
        with pytest.raises(MemoryUnavailableError):  # gone: the request says so
            await (await link.get()).core.list_blocks()
        with pytest.raises(MemoryUnavailableError):  # and the next one asks for a handshake first
            await link.get()
        async with MemoryService(bus, second.stack, "node-b"):
            await (await link.get()).core.list_blocks()
            await (await link.get()).core.list_blocks()
            await bus.nc.flush()
            assert len(hellos) == 4  # the failed handshake above, and one after the node came back
    finally:
        await watch.unsubscribe()
        await first.close()
        await second.close()
