"""``hydra briefing [--since]``: write the briefing now (Markdown on stdout), deliver and store it."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from hydra_os.bus.client import Bus
from hydra_os.chat.client import OpenAIChat
from hydra_os.cli.common import console, fail, state, with_bus
from hydra_os.config import Settings
from hydra_os.errors import HydraError
from hydra_os.intake.errors import RequestInputError
from hydra_os.node.membership import read_nodes
from hydra_os.secrets import read_secret_file
from memory.protocols import MemoryStack
from memory.wiring import client_stack
from pipelines.briefing.pipeline import BriefingDeps, run_briefing

_AGO = re.compile(r"^(\d+(?:\.\d+)?)([mhd])$")


def parse_since(value: str, tz: ZoneInfo, now: float | None = None) -> float:
    """``12h`` / ``90m`` / ``2d`` ago, or an ISO 8601 time (the owner's zone when none is given)."""
    now = time.time() if now is None else now
    if m := _AGO.match(value.strip().lower()):
        return now - float(m.group(1)) * {"m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RequestInputError(
            f"--since: got {value!r}, expected 12h, 90m, 2d or a time like 2026-11-20T18:00") from None
    ts = (dt if dt.tzinfo else dt.replace(tzinfo=tz)).timestamp()
    if ts > now:
        raise RequestInputError(f"--since: {value} is in the future")
    return ts


def briefing(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="Cover from then: 12h, 2d, or 2026-11-20T18:00. "
                                                   "Default: since the last briefing.")] = None,
    send: Annotated[bool, typer.Option("--send/--no-send", help="Deliver and store it (else only write files).")]
    = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written and sent as JSON.")] = False,
) -> None:
    """Write the morning briefing now."""
    settings = state(ctx).settings()
    tz = ZoneInfo(settings.owner.timezone)
    try:
        start = parse_since(since, tz) if since else None
    except HydraError as e:
        fail(e)
    out = with_bus(settings, lambda bus: _run(settings, bus, start, send))
    if as_json:
        console.print_json(json.dumps({k: v for k, v in out.items() if k != "markdown"}))
        return
    console.print(out["markdown"], markup=False, highlight=False, soft_wrap=True)
    console.print(f"[dim]written: {', '.join(out['files'])}[/]", highlight=False)
    for ch, how in out["delivered"].items():
        console.print(f"[dim]{ch}: {how}[/]", highlight=False)


async def _run(settings: Settings, bus: Bus, since: float | None, send: bool) -> dict[str, Any]:
    nodes = await read_nodes(bus, settings.membership.gone_after)
    cfg = settings.intake
    gateways = sorted((n for n in nodes if "gateway" in n.roles and n.api_url), key=lambda n: n.id != settings.node.id)
    base = cfg.llm_url or (f"{str(gateways[0].api_url).rstrip('/')}/v1" if gateways else None)
    chat = None
    if base:
        key_file = cfg.llm_api_key_file if cfg.llm_url else settings.api_token_path
        token = read_secret_file(key_file, "API token") if key_file and key_file.exists() else None
        chat = OpenAIChat(base, model=cfg.model, token=token, timeout_s=cfg.timeout_s)

    async def memory() -> MemoryStack:
        return await client_stack(bus, settings.memory)

    own = next((n.api_url for n in nodes if n.id == settings.node.id), None)
    deps = BriefingDeps(settings=settings, bus=bus, chat=chat, memory=memory, api_url=lambda: own)
    try:
        return await run_briefing(deps, since, send=send)
    finally:
        if chat is not None:
            await chat.close()


def register(app: typer.Typer) -> None:
    app.command("briefing")(briefing)
