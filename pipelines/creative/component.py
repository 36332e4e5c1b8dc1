"""The creative component: the project store and service of this node, its ``/v1/creative/*`` routes,
the ``creative`` RPC verb, and the creative task kinds on the node's task registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from hydra_os.chat.client import OpenAIChat
from hydra_os.component import NodeContext
from hydra_os.intake.component import gateway_url
from hydra_os.lifecycle import Lifecycle, RpcHandler
from hydra_os.node import services
from hydra_os.secrets import read_secret_file
from hydra_os.tasks.registry import KindSpec, specs_of
from hydra_os.tasks.setup import TaskSystem
from memory.protocols import MemoryStack
from memory.wiring import client_stack
from pipelines.creative.api import VERB, creative_router, rpc_handler
from pipelines.creative.pipeline import COMFYUI, CreativeDeps, register
from pipelines.creative.service import CreativeService
from pipelines.creative.store import ProjectStore
from pipelines.creative_config import CreativeConfig


def creative_root(cfg: CreativeConfig, state_dir: Path) -> Path:
    return cfg.root or state_dir / "creative"


class CreativeComponent(Lifecycle):
    name = "creative"

    def __init__(self, ctx: NodeContext, tasks: TaskSystem) -> None:
        self.ctx = ctx
        self.config: CreativeConfig = ctx.settings.creative

        async def memory() -> MemoryStack:
            return await client_stack(ctx.bus, ctx.settings.memory)

        self.store = ProjectStore(creative_root(self.config, ctx.state_dir))
        self.service = CreativeService(self.store, memory)
        token = read_secret_file(ctx.settings.api_token_path, "API token")
        self.chat = OpenAIChat(lambda: gateway_url(ctx), model=self.config.model, token=token,
                               timeout_s=ctx.settings.intake.timeout_s)
        gone_after = ctx.settings.membership.gone_after

        async def announced() -> list[str]:
            return [i.url for i in await services.announced(ctx.bus, COMFYUI, gone_after)]

        self._deps = CreativeDeps(self.config, self.service, self.chat, memory, announced)
        # A GPU node lends its ComfyUI servers to the cluster's batches (the URLs must be reachable from
        # the node that runs the creative tasks, so not 127.0.0.1 unless that is the same node).
        self.announcer = (services.ServiceAnnouncer(ctx.bus, ctx.settings.node.id, COMFYUI, self.config.comfyui_urls,
                                                    ctx.settings.membership.heartbeat_interval)
                          if "gpu" in ctx.settings.node.roles and self.config.comfyui_urls else None)

    def routes(self) -> Sequence[APIRouter]:
        return [creative_router(self.service, self.ctx.auth)]

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        return {VERB: rpc_handler(self.service)}

    def task_kinds(self) -> Sequence[KindSpec]:
        return specs_of(lambda registry: register(registry, self._deps))

    async def _start(self) -> None:
        if self.announcer is not None:
            await self.announcer.start()

    async def _stop(self) -> None:
        if self.announcer is not None:
            await self.announcer.stop()
        await self.chat.close()

    def _details(self) -> dict[str, Any]:
        return {"root": str(self.store.root), "comfyui": self.config.comfyui_urls,
                "comfyui_announced": self.announcer is not None,
                "speech": self.config.speech_url or "espeak-ng"}
