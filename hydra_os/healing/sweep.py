"""``health.sweep``: the scheduler's health loop as a task — every live node runs its full check set once.

Each node's healer runs a round (``heal.run`` over node RPC: every enabled check, repairs through the
policy gate like any round) and the task's result reports, per node, what failed, which checks could not
run and the open incidents. A node that does not answer is reported, not fatal.
"""

from __future__ import annotations

from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.errors import HydraError
from hydra_os.node import rpc
from hydra_os.node.membership import read_nodes
from hydra_os.tasks.registry import TaskContext, TaskRegistry

KIND = "health.sweep"
ROUND_TIMEOUT_S = 120.0


async def sweep(bus: Bus, gone_after: float) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    failing: list[str] = []
    for n in await read_nodes(bus, gone_after):
        try:
            out = await rpc.call(bus, n.id, "heal.run", {}, timeout=ROUND_TIMEOUT_S)
        except HydraError as e:
            nodes[n.id] = {"error": str(e)}
            failing.append(f"{n.id}: no answer")
            continue
        rnd = out.get("round", {})
        open_ = [i for i in out.get("incidents", []) if i.get("status") != "resolved"]
        nodes[n.id] = {"checks": rnd.get("checks", []), "failing": rnd.get("failing", []),
                       "errors": rnd.get("errors", {}), "open_incidents": [i["id"] for i in open_]}
        failing += [f"{n.id} {t}" for t in rnd.get("failing", [])]
    summary = (f"{len(nodes)} node(s) checked; " + (f"failing: {', '.join(failing)}" if failing else "all healthy"))
    return {"summary": summary, "nodes": nodes, "failing": failing}


def register(registry: TaskRegistry, bus: Bus, gone_after: float, kind: str = KIND) -> None:
    async def handler(ctx: TaskContext) -> dict[str, Any]:
        return await sweep(bus, gone_after)

    registry.register(kind, handler, "Run every node's health checks once and report")
