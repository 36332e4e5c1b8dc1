"""``hydra ask "..."``: a request in words, handled by a node's intake (node RPC verb ``ask``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, fail, state, with_bus
from hydra_os.intake.model import ASK_VERB
from hydra_os.node import rpc


def ask(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The request, e.g. 'research ExLlamaV3 overnight'.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say how it would be handled.")] = False,
    node: Annotated[str | None, typer.Option(help="Node whose intake handles it (default: this node).")] = None,
    request_id: Annotated[str | None, typer.Option("--id", help="Request id: sending it again queues nothing new.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole reply as JSON.")] = False,
) -> None:
    """Ask Hydra something in words: it answers, queues, runs, acts (through the policy) or asks back."""
    settings = state(ctx).settings()
    if not text.strip():
        fail("text: expected a request in words, e.g. hydra ask \"what is queued tonight?\"")
    target = node or settings.node.id
    params: dict[str, Any] = {"text": text, "dry_run": dry_run}
    if request_id:
        params["request_id"] = request_id

    async def go(bus: Bus) -> dict[str, Any]:
        return await rpc.call(bus, target, ASK_VERB, params, timeout=settings.intake.timeout_s + 15)

    reply = with_bus(settings, go)
    if as_json:
        console.print_json(json.dumps(reply))
        return
    console.print(escape(str(reply["reply"])), highlight=False, soft_wrap=True)
    detail = [f"{reply['intent']}" + (f"/{reply['kind']}" if reply.get("kind") else ""),
              f"by {reply['classified_by']}", reply["status"]]
    if reply.get("task_id"):
        detail.append(f"task {reply['task_id']} (hydra tasks show {reply['task_id']})")
    if reply.get("approval_id"):
        detail.append(f"approval {reply['approval_id']}")
    console.print(f"[dim]{escape(' · '.join(detail))}[/]", highlight=False)
    for note in reply.get("notes", []):
        console.print(f"[dim]note: {escape(note)}[/]", highlight=False)
    if reply["status"] in ("failed",):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
