"""An over-size memory request is refused by the client, named, before it reaches the bus: the bus's own
max-payload error surfaced as a 500 (a 3 MB `/v1/memory/context` query answered 500 after 3.2 s)."""

from __future__ import annotations

import pytest

from hydra_os.bus.client import Bus
from memory.client import MemoryClient
from memory.errors import MemoryInputError


async def test_a_read_over_the_bus_payload_is_a_named_input_error(bus: Bus) -> None:
    client = MemoryClient(bus, timeout=5)
    with pytest.raises(MemoryInputError, match=r"archival\.search: the request is \d+ bytes as JSON"):
        await client.call("archival.search", {"query": "where is the NAS? " * 100_000})
