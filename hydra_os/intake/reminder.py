"""The ``intake.reminder`` task kind: at its time, tell the owner through the configured notifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra_os.notify import Notification, NotifyConfig, build_notifier
from hydra_os.tasks.errors import PermanentTaskError
from hydra_os.tasks.registry import TaskContext, TaskRegistry

KIND = "intake.reminder"


def register(registry: TaskRegistry, notify: NotifyConfig, state_dir: Path, kind: str = KIND) -> None:
    async def remind(ctx: TaskContext) -> dict[str, Any]:
        text = ctx.params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise PermanentTaskError("params.text: expected what to remind the owner of")
        notifier = build_notifier(notify, state_dir)
        await notifier.send(Notification(title="Reminder", message=text.strip()[:4000], priority="high",
                                         tags=["reminder"], data={"task": ctx.task.id}))
        return {"reminded": text.strip()[:300], "via": notifier.name}

    registry.register(kind, remind, "Remind the owner of something at a given time")
