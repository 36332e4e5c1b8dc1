"""Context assembly over the bus spreads its requests: the sections are read at once, and so are the
entity look-ups of one query (each a round trip to the memory node), never one after another. Seen by a
stand-in memory node on a real nats-server that answers after a delay and counts requests in flight."""

from __future__ import annotations

from hydra_os.bus.client import Bus
from memory.client import MemoryClient
from memory.context import RESOLVE_AT_ONCE, ContextBuilder, candidate_names
from tests.standins.memory_node import SlowMemoryNode

QUERY = ("Where did I put the spare SSD for the NAS before the trip to Lyon with Ada last winter, "
         "and what did the GPU upgrade cost?")


async def test_entity_look_ups_of_one_query_are_in_flight_together(bus: Bus) -> None:
    lookups = len({text for _, _, text in candidate_names(QUERY)})
    assert lookups > RESOLVE_AT_ONCE  # the bound is reached: more candidates than look-ups at once
    async with SlowMemoryNode(bus.nc, delay_s=0.2, entities={"NAS": "NAS", "Lyon": "Lyon"}) as node:
        stack = (await MemoryClient(bus, timeout=30).open()).stack()
        built = await ContextBuilder(stack).build(QUERY)
    assert node.asked["graph.resolve"] == lookups  # each distinct candidate once
    assert node.most_in_flight["graph.resolve"] == RESOLVE_AT_ONCE  # not one after another
    assert node.most_in_flight["graph.facts_about"] == 2  # both entities' facts at once
    # the sections were read at once too: core blocks, learnings and passages were asked together
    assert sorted(built.entities) == ["Lyon", "NAS"]
    assert all(node.most_in_flight[v] == 1 and node.asked[v] == 1
               for v in ("core.list", "learnings.search", "archival.search"))
