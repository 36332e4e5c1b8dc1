"""What the MCP tools reach the cluster through: the bus, like the CLI and the node API.

Both transports use it: inside the daemon with the node's own bus connection, in ``hydra mcp`` with
the CLI's (:func:`hydra_os.cli.common.cli_bus`). Every side effect goes through the same objects the
HTTP API uses (:class:`TaskQueue`, :class:`MemoryWriter`, the intake's ``ask`` verb), so the policy
gate and input checks apply unchanged.
"""

from __future__ import annotations

from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.config import Settings
from hydra_os.intake.model import ASK_VERB
from hydra_os.node import rpc
from hydra_os.policy.approvals import ApprovalStore
from hydra_os.tasks.queue import TaskQueue
from hydra_os.tasks.windows import Windows
from memory.client import MemoryClient
from memory.protocols import MemoryStack

ACTOR = "mcp"


class Hub:
    """The cluster as the MCP tools see it. ``node`` answers ``ask`` (this node)."""

    def __init__(self, bus: Bus, settings: Settings) -> None:
        self.bus = bus
        self.settings = settings
        # One client for the server's life, never ``open()``ed: ``open()`` asks the memory node for
        # ``info`` (it counts every store) only to learn the stored embedding model, which no tool
        # needs, so each tool call is one bus request; with no memory node a call fails with the same
        # MemoryUnavailableError. (``/v1/memory/*`` keeps one handshaken client: ``MemoryLink``.)
        self.memory: MemoryStack = MemoryClient(bus, timeout=settings.memory.service.request_timeout_s).stack()

    @property
    def node(self) -> str:
        return self.settings.node.id

    def queue(self) -> TaskQueue:
        return TaskQueue(self.bus, self.settings.tasks, Windows(self.settings.owner), actor=ACTOR)

    async def approvals(self) -> ApprovalStore:
        return await ApprovalStore.open(self.bus)

    async def ask(self, params: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = await rpc.call(self.bus, self.node, ASK_VERB, params,
                                               timeout=self.settings.intake.timeout_s + 15)
        return reply
