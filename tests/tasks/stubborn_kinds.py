"""A task kind whose handler ignores cancellation: what a badly written handler does to shutdown.
Loaded through ``tasks.kind_modules`` by the bounded-shutdown test; production code is unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

from hydra_os.tasks.registry import TaskContext, TaskRegistry


async def stubborn(ctx: TaskContext) -> dict[str, Any]:
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            continue  # swallowed: nothing can stop this handler short of the process exiting


def register(registry: TaskRegistry) -> None:
    registry.register("test.stubborn", stubborn, "ignores cancellation")
