"""Node gone: a node of the cluster that this node has seen stopped sending heartbeats (or left).

One issue per gone node (target ``node:<id>``): what it carried (endpoints, stores) is one root cause,
and targets that declare ``depends_on = ["node:<id>"]`` are grouped under it. Nodes are remembered
from the live membership view for the daemon's lifetime; a node that comes back resolves its incident.
Nothing on this node can repair another machine, so no fixup applies: the incident is for the owner.
"""

from __future__ import annotations

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import NodeDetails
from hydra_os.healing.model import CheckReport, Issue
from hydra_os.healing.target import Target


def node_target(node_id: str) -> Target:
    return Target(TargetKind.NODE, node_id)


class NodeReachableCheck:
    name = "node_reachable"
    issues = (IssueType.NODE_GONE,)

    def enabled(self, ctx: HealingContext) -> bool:
        return ctx.peers is not None and ctx.config.watch_nodes

    async def run(self, ctx: HealingContext) -> CheckReport:
        assert ctx.peers is not None
        live = {n for n in list(ctx.peers.peers) if n != ctx.peers.node_id}
        ctx.known_nodes.update(live)
        report = CheckReport(check=self.name, checked=[node_target(n) for n in sorted(ctx.known_nodes)])
        for n in sorted(ctx.known_nodes - live):
            report.issues.append(Issue(
                type=IssueType.NODE_GONE, check=self.name, target=node_target(n),
                summary=f"node {n} is gone: no heartbeat from it", details=NodeDetails(node=n),
                depends_on=ctx.config.dependencies.get(str(node_target(n)), []),
            ))
        return report


CHECK = NodeReachableCheck
