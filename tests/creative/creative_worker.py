"""A task worker process with the creative kinds, for the kill -9 test:
``python -m tests.creative.creative_worker NATS_URL COMFY_URL CHAT_URL STATE_DIR NODE_ID``.
Prints ``READY`` once it pulls tasks."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from hydra_os.bus.client import Bus
from hydra_os.chat.client import OpenAIChat
from hydra_os.config import BusConfig, OwnerConfig
from hydra_os.sections.tasks import TasksConfig
from hydra_os.tasks.registry import TaskRegistry
from hydra_os.tasks.windows import Windows
from hydra_os.tasks.worker import TaskWorker
from pipelines.creative.pipeline import CreativeDeps, register
from pipelines.creative.service import CreativeService
from pipelines.creative.store import ProjectStore
from pipelines.creative_config import CreativeConfig
from tests.tasks.conftest import FAST


def deps(comfy: list[str], chat: OpenAIChat, state: Path) -> CreativeDeps:
    cfg = CreativeConfig(comfyui_urls=comfy, comfyui_timeout_s=60, comfyui_request_timeout_s=5)
    return CreativeDeps(cfg, CreativeService(ProjectStore(state / "creative")), chat)


async def main(url: str, comfy: str, chat_url: str, state: Path, node: str) -> None:
    async with Bus([url], BusConfig(), name=node) as bus:
        registry = TaskRegistry()
        register(registry, deps([comfy], OpenAIChat(chat_url, timeout_s=10), state))
        worker = TaskWorker(bus, TasksConfig(**FAST), Windows(OwnerConfig()), registry, node)
        await worker.start()
        print("READY", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5]))
