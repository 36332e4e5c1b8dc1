"""``hydra route``: ``explain "prompt"`` (what the gateway would do with a request, without sending
it), ``feedback TURN TIER`` (which tier an answer needed), ``stats`` (how often each tier hydra/auto
chose was overridden) and ``retrain`` (new weights from the shipped data plus the owner's overrides, into
the state dir, which the gateway then prefers)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, fail, state, with_bus
from hydra_os.inference.auto_classifier import state_weights
from hydra_os.inference.route_log import labelled_from_records, read_records, records_path, stats
from hydra_os.inference.route_train import cross_validate, shipped_rows, train, write_weights
from hydra_os.node import rpc
from hydra_os.sections.inference import TIERS

app = typer.Typer(help="The inference router: explain, feedback, override stats, retrain.", no_args_is_help=True)


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
    body = _request(prompt, model, max_tokens, system, completions)

    async def ask(bus: Bus) -> dict[str, Any]:
        return await rpc.call(bus, target, "route-explain",
                              {"body": body, "kind": "completions" if completions else "chat"})

    out = with_bus(settings, ask)
    if as_json:
        console.print_json(json.dumps(out))
        return
    _print_explanation(out)


def _request(prompt: str, model: str, max_tokens: int | None, system: str | None,
             completions: bool) -> dict[str, Any]:
    """The OpenAI request body the gateway is asked to explain."""
    body: dict[str, Any] = {"model": model}
    if completions:
        body["prompt"] = prompt
    else:
        msgs = [{"role": "system", "content": system}] if system else []
        body["messages"] = [*msgs, {"role": "user", "content": prompt}]
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


def _print_explanation(out: dict[str, Any]) -> None:
    _line("tier", out.get("tier") or "-")
    _line("endpoint", out.get("endpoint") or "none available")
    _line("reason", out.get("reason") or "-")
    if out.get("probs"):
        probs = ", ".join(f"{t} {p:.2f}" for t, p in out["probs"].items())
        _line("model", f"{probs} ({out.get('weights')} weights, decided by {out.get('decided_by')})")
    if "score" in out:
        _line("score", f"{out['score']} (rules)")
        _line("features", ", ".join(f"{k}={v}" for k, v in out["features"].items()))
    for s in out.get("skipped", []):
        _line("skipped", f"{s['group']}: {s['why']}")
    if "x_hydra_route" in out:
        console.print(f"x-hydra-route: {out['x_hydra_route']}", highlight=False, markup=False)


def _line(label: str, value: str) -> None:
    """A bold label and a value printed as it is (a prompt's words may look like rich markup)."""
    console.print(f"[bold]{label:<9}[/] {escape(value)}", highlight=False)


@app.command("feedback")
def feedback_cmd(
    ctx: typer.Context,
    turn: Annotated[str, typer.Argument(help="The x-hydra-turn header of the hydra/auto answer.")],
    tier: Annotated[str, typer.Argument(help="The tier the answer needed: fast, standard or heavy.")],
    node: Annotated[str | None, typer.Option("--node", "-n", help="Gateway node that answered.")] = None,
) -> None:
    """Tell the router which tier an answer it routed should have had (learned by 'hydra route retrain')."""
    if tier not in TIERS:
        fail(f"TIER must be one of {', '.join(TIERS)}, got {tier!r}")
    settings = state(ctx).settings()
    target = node or settings.node.id

    async def send(bus: Bus) -> dict[str, Any]:
        return await rpc.call(bus, target, "route-feedback", {"turn": turn, "tier": tier})

    out = with_bus(settings, send)
    was = f" (hydra/auto had chosen {out['was']})" if out.get("was") else ""
    console.print(f"recorded: turn {out['turn']} wanted {out['tier']}{was}", highlight=False, markup=False)


@app.command("stats")
def stats_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How often hydra/auto chose each tier on this node, and how often the owner overrode it."""
    state_dir = state(ctx).settings().node.state_dir
    st = stats(read_records(state_dir))
    if as_json:
        console.print_json(json.dumps({t: {"routed": s.routed, "overridden_up": s.overridden_up,
                                            "overridden_down": s.overridden_down} for t, s in st.items()}))
        return
    console.print(f"records: {records_path(state_dir)}", highlight=False, markup=False)
    console.print(f"{'tier':<9} {'routed':>7} {'up':>5} {'down':>5} {'overridden':>11}", highlight=False)
    for t in TIERS:
        s = st[t]
        console.print(f"{t:<9} {s.routed:>7} {s.overridden_up:>5} {s.overridden_down:>5} {s.override_rate:>10.1%}",
                      highlight=False)


@app.command("retrain")
def retrain_cmd(
    ctx: typer.Context,
    cv: Annotated[bool, typer.Option("--cv", help="Also report 5-fold cross-validation (slower).")] = False,
) -> None:
    """Train new hydra/auto weights from the shipped data plus this node's overrides and feedback, into
    <state_dir>/router/route_weights.json (the gateway picks them up within seconds)."""
    state_dir = state(ctx).settings().node.state_dir
    own = labelled_from_records(read_records(state_dir))
    rows = shipped_rows() + own
    model = train(rows)
    out = state_weights(state_dir)
    write_weights(model, out)
    console.print(f"wrote {out}: {len(rows)} examples ({len(own)} from overrides), {len(model.names)} terms",
                  highlight=False, markup=False)
    if cv:
        r = cross_validate(rows)
        console.print(f"cross-validated accuracy {r['accuracy']:.3f}, heavy recall {r['heavy_recall']:.3f}, "
                      f"fast->heavy {r['fast_to_heavy']}, heavy->fast {r['heavy_to_fast']}", highlight=False)
