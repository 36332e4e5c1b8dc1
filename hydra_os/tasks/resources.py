"""What a worker node can offer a task: free VRAM from membership's view of ``hydra_nodes``."""

from __future__ import annotations

from typing import Protocol

from hydra_os.node.membership import Membership


class ResourceView(Protocol):
    def free_vram(self) -> tuple[int, float] | None:
        """This node's free VRAM (MB) and when it was measured (Unix time); None if unknown."""
        ...

    def cluster_max_free_vram(self) -> int:
        """The most free VRAM any live node reports (for 'waiting for' messages)."""
        ...


class MembershipResources:
    """Reads the node's own heartbeat (NVML figures) from the membership view."""

    def __init__(self, membership: Membership, node_id: str) -> None:
        self.membership = membership
        self.node_id = node_id

    def free_vram(self) -> tuple[int, float] | None:
        peer = self.membership.peers.get(self.node_id)
        if peer is None:
            return None
        return peer.info.vram_free_mb, peer.info.heartbeat_at

    def cluster_max_free_vram(self) -> int:
        return max((p.info.vram_free_mb for p in self.membership.peers.values()), default=0)
