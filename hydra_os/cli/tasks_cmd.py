"""``hydra queue``, ``hydra tasks [--all] | show | cancel | retry`` (``hydra schedule``: :mod:`.schedule_cmd`).

``hydra queue "KIND key=value ..."`` queues a task of an explicit kind. The text goes through a chain
of :class:`RequestParser` s; natural-language intake plugs in by adding its parser to
:func:`request_parsers` (the explicit form keeps working).
"""

from __future__ import annotations

import json
import re
import shlex
import time
from datetime import datetime
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, fail, parse_params, parse_value, state, with_bus
from hydra_os.cli.schedule_cmd import schedule_app
from hydra_os.cli.timefmt import when
from hydra_os.config import Settings
from hydra_os.errors import HydraError
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.errors import InvalidTaskError
from hydra_os.tasks.model import PRIORITY_NAMES, Task, TaskSpec, check_kind
from hydra_os.tasks.queue import EnqueueResult, TaskQueue
from hydra_os.tasks.windows import Windows


class RequestParser(Protocol):
    def parse(self, text: str, base: dict[str, Any]) -> TaskSpec | None:
        """A spec for ``text`` (``base`` holds the options given on the command line), or None if not mine."""
        ...


class ExplicitParser:
    """``KIND [key=value ...]``; values are JSON when they parse as JSON, else strings."""

    def parse(self, text: str, base: dict[str, Any]) -> TaskSpec | None:
        try:
            words = shlex.split(text)
        except ValueError as e:
            raise InvalidTaskError(f"request: cannot split {text!r} into words ({e})") from None
        if not words:
            return None
        try:
            kind = check_kind(words[0])
        except InvalidTaskError:
            return None
        params = dict(base.pop("params", {}))
        for w in words[1:]:
            if "=" not in w:
                raise InvalidTaskError(f"request: {w!r} is not key=value (expected 'KIND key=value ...')")
            k, v = w.split("=", 1)
            params[k] = parse_value(v)
        return TaskSpec(kind=kind, params=params, **base)


def request_parsers() -> list[RequestParser]:
    """Tried in order; the natural-language intake adds its parser here."""
    return [ExplicitParser()]


_REL = re.compile(r"^\+(\d+(?:\.\d+)?)([smhd])$")


def parse_when(value: str, tz: ZoneInfo) -> float:
    """``+90s``/``+30m``/``+2h``/``+1d``, an ISO 8601 time (owner's zone when none is given), or Unix seconds."""
    if m := _REL.match(value.strip()):
        return time.time() + float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidTaskError(
            f"--not-before: got {value!r}, expected +30m / +2h, or a time like 2025-01-31T22:00") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=tz)).timestamp()


def _queue(settings: Settings, bus: Bus) -> TaskQueue:
    return TaskQueue(bus, settings.tasks, Windows(settings.owner), actor="cli")


def queue(
    ctx: typer.Context,
    request: Annotated[str, typer.Argument(help="What to queue: 'KIND key=value ...', e.g. 'diag.echo text=hi'.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value (repeatable).")] = None,
    params_json: Annotated[str | None, typer.Option("--params-json", help="Parameters as a JSON object.")] = None,
    priority: Annotated[str, typer.Option(help="low, normal, high or urgent.")] = "normal",
    window: Annotated[str | None, typer.Option(help="Only run inside this window: overnight.")] = None,
    not_before: Annotated[str | None, typer.Option(help="Earliest start: +2h, or 2025-01-31T22:00.")] = None,
    gpu_mb: Annotated[int, typer.Option(help="VRAM the task needs (MB).")] = 0,
    key: Annotated[str | None, typer.Option(help="Idempotency key: queueing it again returns the first task.")] = None,
    title: Annotated[str | None, typer.Option(help="One-line description.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the task as JSON.")] = False,
) -> None:
    """Queue a task."""
    settings = state(ctx).settings()
    tz = ZoneInfo(settings.owner.timezone)
    try:
        params = parse_params(param, params_json, InvalidTaskError)
        base: dict[str, Any] = {"params": params, "priority": priority, "window": window, "gpu_vram_mb": gpu_mb,
                                "idempotency_key": key, "title": title, "source": "cli"}
        if not_before is not None:
            base["not_before"] = parse_when(not_before, tz)
        spec = None
        for parser in request_parsers():
            spec = parser.parse(request, dict(base))
            if spec is not None:
                break
        if spec is None:
            raise InvalidTaskError(
                f"request: cannot tell a task kind from {request!r}; expected 'KIND key=value ...' "
                "(e.g. 'diag.echo text=hi')")
    except HydraError as e:
        fail(e)
    except ValueError as e:  # pydantic ValidationError: name the field
        fail(InvalidTaskError(_pydantic_line(e)))

    async def go(bus: Bus) -> EnqueueResult:
        return await _queue(settings, bus).enqueue(spec)

    res = with_bus(settings, go)
    if as_json:
        console.print_json(json.dumps({"created": res.created, "task": res.task.model_dump(mode="json")}))
        return
    t = res.task
    if not res.created:
        console.print(f"already queued as [bold]{t.id}[/] ({t.state}); idempotency key {t.idempotency_key}")
        return
    when = f"; waits: {t.wait_reason}" if t.state == "pending" else ""
    console.print(f"queued [bold]{t.id}[/] ({t.kind}, {PRIORITY_NAMES[t.priority]}){when}", highlight=False)


def _pydantic_line(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        parts = []
        for err in errors():
            field = ".".join(str(p) for p in err["loc"])
            parts.append(f"{field}: got {err.get('input')!r}; {err['msg'].removeprefix('Value error, ')}")
        return "; ".join(parts)
    return str(e)


tasks_app = typer.Typer(help="List, show, cancel and retry tasks.", invoke_without_command=True,
                        no_args_is_help=False)


@tasks_app.callback()
def tasks(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include finished tasks.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Active tasks (with --all: finished ones too)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = state(ctx).settings()
    tz = ZoneInfo(settings.owner.timezone)

    async def go(bus: Bus) -> list[Task]:
        return await _queue(settings, bus).list_tasks(include_finished=all_)

    found = with_bus(settings, go)
    if as_json:
        console.print_json(json.dumps([t.model_dump(mode="json") for t in found]))
        return
    if not found:
        console.print("no tasks" if all_ else "no active tasks (--all shows finished ones)")
        return
    table = Table("id", "kind", "state", "prio", "attempts", "worker", "created", "note")
    for t in found:
        note = t.wait_reason if t.state == "pending" else (t.error or t.title or "")
        table.add_row(t.id, t.kind, t.state, PRIORITY_NAMES[t.priority], f"{t.attempts}/{t.failures}f",
                      t.worker or "-", when(t.created_at, tz), (note or "")[:60])
    console.print(table)


@tasks_app.command("show")
def show(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One task: parameters, state, result or error, history and finished steps."""
    settings = state(ctx).settings()
    tz = ZoneInfo(settings.owner.timezone)

    async def go(bus: Bus) -> tuple[Task, list[Any]]:
        q = _queue(settings, bus)
        task = await q.get(task_id)
        steps = await CheckpointStore(q.store, task_id).all()
        return task, sorted(steps.values(), key=lambda c: c.finished_at)

    task, steps = with_bus(settings, go)
    if as_json:
        console.print_json(json.dumps({"task": task.model_dump(mode="json"),
                                       "checkpoints": [c.model_dump(mode="json") for c in steps]}))
        return
    console.print(f"[bold]{task.id}[/] {task.kind} — {task.state}", highlight=False)
    console.print(f"  params:   {json.dumps(task.params)}", highlight=False, markup=False)
    console.print(f"  priority: {PRIORITY_NAMES[task.priority]}  window: {task.window or '-'}  "
                  f"gpu: {task.gpu_vram_mb} MB  key: {task.idempotency_key}", highlight=False, markup=False)
    console.print(f"  attempts: {task.attempts}  failures: {task.failures}  worker: {task.worker or '-'}",
                  highlight=False)
    if task.wait_reason:
        console.print(f"  waiting:  {task.wait_reason}", highlight=False, markup=False)
    if task.error:
        console.print(f"  error:    {task.error}", highlight=False, markup=False)
    if task.result is not None:
        console.print(f"  result:   {json.dumps(task.result)[:2000]}", highlight=False, markup=False)
    if steps:
        console.print("  steps:    " + ", ".join(f"{c.step} ({when(c.finished_at, tz)})" for c in steps),
                      highlight=False, markup=False)
    console.print("  history:")
    for h in task.history:
        console.print(f"    {when(h.ts, tz)} {h.event:<11} {h.node or '':<10} {h.detail or ''}",
                      highlight=False, markup=False)


@tasks_app.command("cancel")
def cancel(ctx: typer.Context, task_id: Annotated[str, typer.Argument(help="Task id.")]) -> None:
    """Cancel a task that has not finished (a running one stops at its next heartbeat)."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> Task:
        return await _queue(settings, bus).cancel(task_id)

    t = with_bus(settings, go)
    console.print(f"cancelled {t.id} ({t.kind})", highlight=False)


@tasks_app.command("retry")
def retry(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    fresh: Annotated[bool, typer.Option(help="Forget its finished steps and start over.")] = False,
) -> None:
    """Queue a failed or cancelled task again (resumes after its last finished step unless --fresh)."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> Task:
        return await _queue(settings, bus).retry(task_id, fresh=fresh)

    t = with_bus(settings, go)
    console.print(f"queued {t.id} again ({t.state})", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``queue``, ``tasks`` and ``schedule`` to the top-level app."""
    app.command("queue")(queue)
    app.add_typer(tasks_app, name="tasks")

    app.add_typer(schedule_app, name="schedule")
