"""``hydra creative project|character|place|chapter|scene|review ...``: the creative studio over the
node RPC verb ``creative`` (the same operations as ``/v1/creative/*``).

``hydra creative character reference add PROJECT CHARACTER FILE.png`` sends a reference image over the
same verb (base64, so it must fit the bus server's max_payload, 1 MiB by default; larger ones go to the
HTTP route).

Fields are given as ``key=value`` (dotted keys reach nested settings: ``voice.speed=1.1``); a ``set``
merges them into what is stored, so ``hydra creative character set ebq aria name="Queen Aria"`` renames
and keeps everything else.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, fail, parse_value, state, with_bus
from hydra_os.node import rpc
from pipelines.creative.api import VERB

app = typer.Typer(help="The creative studio: visual-novel projects, characters, places, chapters, scenes.",
                  no_args_is_help=True)
project_app = typer.Typer(help="Create, list and show projects.", no_args_is_help=True)
app.add_typer(project_app, name="project")

Fields = Annotated[list[str] | None, typer.Argument(help="key=value fields (dotted keys for nested ones)")]
NodeOpt = Annotated[str | None, typer.Option(help="Node that keeps the projects (default: this node).")]


def fields(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            fail(f"{pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        *path, last = key.split(".")
        cur = out
        for part in path:
            cur = cur.setdefault(part, {})
        cur[last] = parse_value(value)
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def call(ctx: typer.Context, node: str | None, params: dict[str, Any]) -> dict[str, Any]:
    settings = state(ctx).settings()

    async def go(bus: Bus) -> dict[str, Any]:
        return await rpc.call(bus, node or settings.node.id, VERB, params, timeout=30)

    return with_bus(settings, go)


def show(result: dict[str, Any]) -> None:
    console.print_json(json.dumps(result))


@project_app.command("create")
def project_create(ctx: typer.Context, id: str, items: Fields = None, node: NodeOpt = None) -> None:
    """Create a project: ``hydra creative project create ebq title="Empire of Broken Queens"``."""
    show(call(ctx, node, {"op": "project.create", "id": id, "project": fields(items)}))


@project_app.command("list")
def project_list(ctx: typer.Context, node: NodeOpt = None) -> None:
    """Every project, with where it stands."""
    for p in call(ctx, node, {"op": "project.list"})["projects"]:
        scenes = p["scenes"].values()
        done = sum(1 for s in scenes if "export" in s["done"])
        console.print(f"{escape(p['id'])}  {escape(p['title'])}  {len(p['characters'])} characters, "
                      f"{done}/{len(scenes)} scenes done (revision {p['revision']})", highlight=False)


@project_app.command("show")
def project_show(ctx: typer.Context, id: str, history: bool = False, node: NodeOpt = None) -> None:
    """A project as JSON (``--history``: its revisions)."""
    show(call(ctx, node, {"op": "project.history" if history else "project.show", "project": id}))


def _setter(kind: str, plural: str) -> typer.Typer:
    def put(ctx: typer.Context, project: str, id: str, items: Fields = None, node: NodeOpt = None) -> None:
        current = call(ctx, node, {"op": "project.show", "project": project})[plural].get(id, {})
        current.pop("id", None)
        for generated in ("lines", "choices", "images", "done", "dialogue_raw"):
            current.pop(generated, None)
        body = merge(current, fields(items))
        show(call(ctx, node, {"op": f"{kind}.put", "project": project, "id": id, kind: body}))

    put.__doc__ = f"Create or change a {kind} (fields merge into what is stored)."
    sub = typer.Typer(help=f"Create or change {plural}.", no_args_is_help=True)
    sub.command("set")(put)
    app.add_typer(sub, name=kind)
    return sub


_setters = {kind: _setter(kind, plural) for kind, plural in (
    ("character", "characters"), ("place", "places"), ("chapter", "chapters"), ("scene", "scenes"))}
reference_app = typer.Typer(help="A character's reference images (they steer the reference workflow).",
                            no_args_is_help=True)
_setters["character"].add_typer(reference_app, name="reference")


@reference_app.command("add")
def reference_add(ctx: typer.Context, project: str, character: str,
                  png: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the PNG file")],
                  node: NodeOpt = None) -> None:
    """Keep a PNG as a reference image of the character (stored with its sha256)."""
    params = {"op": "character.reference", "project": project, "character": character,
              "png": base64.b64encode(png.read_bytes()).decode()}
    settings = state(ctx).settings()

    async def go(bus: Bus) -> dict[str, Any]:
        size = len(json.dumps(params))
        if size > bus.nc.max_payload:  # said here, not as the bus's bare "maximum payload exceeded"
            fail(f"{png.name}: {size} bytes as a bus message, over the server's max_payload "
                 f"({bus.nc.max_payload}); send it over HTTP: POST /v1/creative/projects/{project}/characters/"
                 f"{character}/references with the PNG as the body")
        return await rpc.call(bus, node or settings.node.id, VERB, params, timeout=30)

    show(with_bus(settings, go))


@app.command("review")
def review(ctx: typer.Context, project: str, scene: str,
           verdict: Annotated[str, typer.Argument(help="approved or rejected")],
           line: Annotated[str | None, typer.Option(help="the line's id")] = None,
           image: Annotated[str | None, typer.Option(help="the image's key")] = None,
           add_reference: Annotated[bool, typer.Option(help="add an approved image to the references")] = False,
           node: NodeOpt = None) -> None:
    """Approve or reject a generated line or image (a rejected one is made again, new seed, next run)."""
    show(call(ctx, node, {"op": "review.set", "project": project, "scene": scene, "line": line, "image": image,
                          "review": verdict, "add_reference": add_reference}))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="creative")
