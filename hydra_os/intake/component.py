"""The intake component (every node): builds the chat client and the service, and offers its API route,
RPC verb and task kinds (research, briefing, reminder, operations asked for later, memory upkeep) for
:mod:`hydra_os.wiring` to register.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from fastapi import APIRouter

from hydra_os.chat.client import OpenAIChat
from hydra_os.component import NodeContext
from hydra_os.intake import later, reminder
from hydra_os.intake.api import ASK_VERB, requests_router, rpc_handler
from hydra_os.intake.service import IntakeService
from hydra_os.lifecycle import Lifecycle, RpcHandler
from hydra_os.policy.model import Gate
from hydra_os.secrets import read_secret_file
from hydra_os.sections.intake import IntakeConfig
from hydra_os.tasks.registry import KindSpec, specs_of
from hydra_os.tasks.setup import TaskSystem
from memory.archiver import ExchangeArchiver
from memory.protocols import MemoryStack
from memory.wiring import make_extractor, memory_link
from pipelines.briefing.pipeline import BriefingDeps
from pipelines.briefing.pipeline import register as register_briefing
from pipelines.maintenance import register as register_maintenance
from pipelines.research.pipeline import ResearchDeps
from pipelines.research.pipeline import register as register_research


def gateway_url(ctx: NodeContext) -> str | None:
    """This node's API if it is a gateway, else the first live gateway node's, as an OpenAI base URL."""
    nodes = ctx.membership.nodes()
    mine = [n for n in nodes if n.id == ctx.node_id and "gateway" in n.roles and n.api_url]
    others = sorted((n for n in nodes if n.id != ctx.node_id and "gateway" in n.roles and n.api_url),
                    key=lambda n: n.id)
    for n in (*mine, *others):
        return f"{str(n.api_url).rstrip('/')}/v1"
    return None


class IntakeComponent(Lifecycle):
    name = "intake"

    def __init__(self, ctx: NodeContext, tasks: TaskSystem, gate: Gate | None) -> None:
        self.ctx = ctx
        cfg: IntakeConfig = ctx.settings.intake
        self.config = cfg
        if cfg.llm_url:
            token = read_secret_file(cfg.llm_api_key_file, "intake.llm_api_key_file") if cfg.llm_api_key_file else None
            self.chat = OpenAIChat(cfg.llm_url, model=cfg.model, token=token, timeout_s=cfg.timeout_s,
                                   idle_timeout_s=cfg.stream_idle_s)
        else:
            token = read_secret_file(ctx.settings.api_token_path, "API token")
            self.chat = OpenAIChat(lambda: gateway_url(ctx), model=cfg.model, token=token, timeout_s=cfg.timeout_s,
                                   idle_timeout_s=cfg.stream_idle_s)

        link = memory_link(ctx.bus, ctx.settings.memory)  # one handshake, not one per request

        async def memory() -> MemoryStack:
            return await link.get()

        self.memory = memory
        self.extractor = make_extractor(ctx.settings.memory.extract)
        # a model's answered question goes to memory as a hydra/assistant chat does: both turns, off the request path
        self.archiver = ExchangeArchiver(memory, owner=ctx.settings.owner.name, extractor=self.extractor,
                                         queue_size=ctx.settings.inference.memory.queue_size)
        self.service = IntakeService(ctx.settings, cfg, tasks.queue, ctx.node_id, gate=gate, chat=self.chat,
                                     memory=memory, extractor=self.extractor,
                                     nodes=lambda: {n.id: list(n.roles) for n in ctx.membership.nodes()},
                                     archiver=self.archiver)

    def routes(self) -> Sequence[APIRouter]:
        return [requests_router(self.service, self.ctx.auth)]

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        return {ASK_VERB: rpc_handler(self.service)}

    def task_kinds(self) -> Sequence[KindSpec]:
        """A kind that ``tasks.kind_modules`` registered first wins (the wiring skips ours)."""
        s, cfg = self.ctx.settings, self.config
        research = ResearchDeps(cfg.research, s.node.state_dir, s.owner.timezone, self.chat, self.memory)
        briefing = BriefingDeps(settings=s, bus=self.ctx.bus, chat=self.chat, memory=self.memory,
                                api_url=lambda: _own_api(self.ctx))
        return specs_of(
            partial(register_research, deps=research, kind=cfg.research_kind),
            partial(reminder.register, notify=s.notify, state_dir=s.node.state_dir, kind=cfg.reminder_kind),
            partial(later.register, bus=self.ctx.bus, timeout_s=cfg.timeout_s, kind=cfg.ops_kind),
            # the scheduler's nightly memory upkeep
            partial(register_maintenance, memory=self.memory, config=s.memory,
                    kind=s.tasks.scheduler.memory_maintenance_kind),
            partial(register_briefing, deps=briefing, kind=s.tasks.scheduler.briefing_kind),
        )

    async def _start(self) -> None:
        self.archiver.start()

    async def _stop(self) -> None:
        await self.archiver.stop()
        await self.chat.close()
        if self.extractor is not None:
            await self.extractor.close()
            self.extractor = None

    def _details(self) -> dict[str, Any]:
        return {**self.service.status(), "llm": self.config.llm_url or "gateway (discovered)",
                "archive": self.archiver.status()}


def _own_api(ctx: NodeContext) -> str | None:
    return next((n.api_url for n in ctx.membership.nodes() if n.id == ctx.node_id), None)
