"""Hydra's own checks for the safe switch's health gate, asked over the bus.

Before activation the gate takes a baseline: what this node's healer finds failing now (``heal.run``
on this node's daemon) and which other live nodes answer. After activation and ``gate_settle_s``:

- a target failing now that was not failing before the switch is a problem (an old, unrelated
  failure does not block a switch);
- this node's daemon not answering any more is a problem;
- every other node that answered before runs its ``node_reachable`` check; one that no longer sees
  this node (``node:<id>`` failing there), or no longer answers, is a problem. That is the cluster's
  view: a switch that breaks the network or the bus fails its gate even when the node looks fine
  from inside.
"""

from __future__ import annotations

from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.errors import HydraError
from hydra_os.node import rpc
from hydra_os.node.membership import read_nodes

ROUND_TIMEOUT_S = 120.0


class ClusterGate:
    def __init__(self, bus: Bus, node_id: str, gone_after: float) -> None:
        self.bus = bus
        self.node_id = node_id
        self.gone_after = gone_after
        self._before: set[str] = set()
        self._peers: list[str] = []

    async def _round(self, node: str, params: dict[str, Any]) -> set[str]:
        out = await rpc.call(self.bus, node, "heal.run", params, timeout=ROUND_TIMEOUT_S)
        return set(out.get("round", {}).get("failing", []))

    async def baseline(self) -> None:
        """Raises HydraError when this node's daemon does not answer (then the gate cannot use it)."""
        self._before = await self._round(self.node_id, {})
        self._peers = []
        for n in await read_nodes(self.bus, self.gone_after):
            if n.id == self.node_id:
                continue
            try:
                await self._round(n.id, {"checks": ["node_reachable"]})
            except HydraError:
                continue  # not answering before the switch: not this switch's doing
            self._peers.append(n.id)

    async def __call__(self) -> list[str]:
        problems: list[str] = []
        try:
            now = await self._round(self.node_id, {})
        except HydraError as e:
            problems.append(f"the hydra daemon on {self.node_id} does not answer after the switch: {e}")
        else:
            problems += [f"{t} fails after the switch (healing check on {self.node_id})"
                         for t in sorted(now - self._before)]
        me = f"node:{self.node_id}"
        for peer in self._peers:
            try:
                failing = await self._round(peer, {"checks": ["node_reachable"]})
            except HydraError as e:
                problems.append(f"node {peer} answered before the switch but not after: {e}")
                continue
            if me in failing:
                problems.append(f"node {peer} no longer sees {self.node_id}")
        return problems
