"""A stand-in memory node on the bus: answers the read verbs a context assembly asks
(``hydra.memory.<verb>``, the wire format of :mod:`memory.service`) after a fixed delay, and records
how many requests of each verb were in flight at once. It knows a few entity names; everything else is
empty. For tests of how a client spreads its requests over time, which real stores answer too fast to see.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from hydra_os.bus.names import MEMORY_PREFIX

_EMPTY: dict[str, Any] = {"core.list": [], "archival.search": [], "learnings.search": [], "graph.facts_about": []}


class SlowMemoryNode:
    def __init__(self, nc: Client, delay_s: float, entities: dict[str, str]) -> None:
        self.nc = nc
        self.delay_s = delay_s
        self.entities = {k.lower(): v for k, v in entities.items()}  # name or alias -> canonical name
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        self.asked: Counter[str] = Counter()
        self._sub: Subscription | None = None

    async def __aenter__(self) -> SlowMemoryNode:
        self._sub = await self.nc.subscribe(f"{MEMORY_PREFIX}.>", cb=self._serve)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _serve(self, msg: Msg) -> None:
        asyncio.get_running_loop().create_task(self._answer(msg))  # callbacks run one at a time: answer apart

    async def _answer(self, msg: Msg) -> None:
        verb = msg.subject.removeprefix(MEMORY_PREFIX + ".")
        self.asked[verb] += 1
        self.in_flight[verb] += 1
        self.most_in_flight[verb] = max(self.most_in_flight[verb], self.in_flight[verb])
        try:
            await asyncio.sleep(self.delay_s)
            await msg.respond(json.dumps({"result": self._result(verb, json.loads(msg.data or b"{}"))}).encode())
        finally:
            self.in_flight[verb] -= 1

    def _result(self, verb: str, params: dict[str, Any]) -> Any:
        if verb == "hello":
            return {"node": "standin", "embedding_model": "hashing-bow-v1-384"}
        if verb == "graph.resolve":
            name = self.entities.get(str(params["name"]).lower())
            return None if name is None else {"name": name, "type": "thing", "aliases": [], "properties": {}}
        return _EMPTY[verb]
