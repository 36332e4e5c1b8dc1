"""``hydra route explain "prompt"``: what the gateway would do with a request, without sending it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, fail, state, with_bus
from hydra_os.node import rpc

app = typer.Typer(help="The inference router: explain routing decisions.", no_args_is_help=True)


@app.command("explain")
def explain(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The prompt (the newest user message).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model, alias or hydra/auto.")] = "hydra/auto",
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Requested max_tokens.", min=1)] = None,
    system: Annotated[str | None, typer.Option("--system", help="A system prompt.")] = None,
    completions: Annotated[bool, typer.Option("--completions", help="As a /v1/completions request.")] = False,
    node: Annotated[str | None, typer.Option("--node", "-n", help="Gateway node to ask (default: this one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
) -> None:
    """Classify a prompt and show the tier, endpoint and reason the gateway would pick (sends nothing)."""
    if not prompt.strip():
        fail("the prompt is empty; pass the text to classify, e.g. hydra route explain \"what is 2+2?\"")
    settings = state(ctx).settings()
    target = node or settings.node.id
    body: dict[str, Any] = {"model": model}
    if completions:
        body["prompt"] = prompt
    else:
        msgs = [{"role": "system", "content": system}] if system else []
        body["messages"] = [*msgs, {"role": "user", "content": prompt}]
    if max_tokens is not None:
        body["max_tokens"] = max_tokens

    async def ask(bus: Bus) -> dict[str, Any]:
        return await rpc.call(bus, target, "route-explain",
                              {"body": body, "kind": "completions" if completions else "chat"})

    out = with_bus(settings, ask)
    if as_json:
        console.print_json(json.dumps(out))
        return
    console.print(f"[bold]tier[/]      {out.get('tier') or '-'}", highlight=False)
    console.print(f"[bold]endpoint[/]  {out.get('endpoint') or 'none available'}", highlight=False)
    console.print(f"[bold]reason[/]    {out.get('reason') or '-'}", highlight=False, markup=False)
    if "score" in out:
        console.print(f"[bold]score[/]     {out['score']}", highlight=False)
        feats = ", ".join(f"{k}={v}" for k, v in out["features"].items())
        console.print(f"[bold]features[/]  {feats}", highlight=False, markup=False)
    for s in out.get("skipped", []):
        console.print(f"[bold]skipped[/]   {s['group']}: {s['why']}", highlight=False, markup=False)
    if "x_hydra_route" in out:
        console.print(f"x-hydra-route: {out['x_hydra_route']}", highlight=False, markup=False)
