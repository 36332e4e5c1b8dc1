"""A task worker process with the research kind, for the kill -9 test: ``python -m tests.pipelines.research_worker
NATS_URL SOURCES_BASE STATE_DIR NODE_ID``. Prints ``READY`` once it pulls tasks."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig, OwnerConfig
from hydra_os.sections.tasks import TasksConfig
from hydra_os.tasks.registry import TaskRegistry
from hydra_os.tasks.windows import Windows
from hydra_os.tasks.worker import TaskWorker
from pipelines.research.pipeline import register
from tests.pipelines.conftest import deps_for, research_config
from tests.standins.sources.server import SourceServer
from tests.tasks.conftest import FAST


async def main(url: str, base: str, state: Path, node: str) -> None:
    src = SourceServer(host="127.0.0.1", port=int(base.rsplit(":", 1)[1]))
    async with Bus([url], BusConfig(), name=node) as bus:
        registry = TaskRegistry()
        register(registry, deps_for(bus, research_config(src, state), state, None))
        worker = TaskWorker(bus, TasksConfig(**FAST), Windows(OwnerConfig()), registry, node)
        await worker.start()
        print("READY", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]))
