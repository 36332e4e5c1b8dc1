"""Shared CLI plumbing: loading config, reaching the bus, printing errors (exit 2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from hydra_os.bus.auth import local_credentials
from hydra_os.bus.client import Bus
from hydra_os.config import Settings, load_settings
from hydra_os.errors import HydraError

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


class CliState:
    def __init__(self) -> None:
        self.config_path: Path | None = None
        self._settings: Settings | None = None

    def settings(self, **overrides: Any) -> Settings:
        if overrides or self._settings is None:
            try:
                loaded = load_settings(self.config_path, **overrides)
            except HydraError as e:
                fail(e)
            if overrides:
                return loaded
            self._settings = loaded
        return self._settings


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def fail(e: HydraError | str, code: int | None = None) -> NoReturn:
    msg = str(e)
    err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code if code is not None else (e.exit_code if isinstance(e, HydraError) else 2))


def parse_value(v: str) -> Any:
    """A ``key=value`` value: JSON when it parses (numbers, booleans, lists), else the plain string."""
    try:
        return json.loads(v)
    except ValueError:
        return v


def parse_params(param: list[str] | None, params_json: str | None, error: type[HydraError]) -> dict[str, Any]:
    """``--params-json`` (an object) then each ``--param key=value``; bad input raises ``error`` naming the flag."""
    out: dict[str, Any] = {}
    if params_json is not None:
        try:
            loaded = json.loads(params_json)
        except ValueError as e:
            raise error(f"--params-json: not JSON ({e})") from None
        if not isinstance(loaded, dict):
            raise error("--params-json: expected a JSON object")
        out.update(loaded)
    for p in param or []:
        if "=" not in p:
            raise error(f"--param: got {p!r}, expected key=value")
        k, v = p.split("=", 1)
        out[k] = parse_value(v)
    return out


def bus_servers(settings: Settings) -> list[str]:
    """``bus.url`` if set, else the embedded server of the daemon running on this state dir."""
    from hydra_os.daemon import read_runtime  # lazy: the daemon module loads every component

    if settings.bus.url:
        return settings.bus.url
    rt = read_runtime(settings.node.state_dir)
    if not rt or not rt.get("bus"):
        fail(
            f"no hydra daemon is running on state dir {settings.node.state_dir} and bus.url is not set; "
            "start one with 'hydra run' or pass --config / HYDRA_BUS__URL"
        )
    return list(rt["bus"])


def cli_bus(settings: Settings) -> Bus:
    """A bus client for the CLI: ``bus.url`` with its credentials, else the local daemon's embedded
    server with the credentials it generated in the state dir."""
    servers = bus_servers(settings)
    local = None if settings.bus.url else local_credentials(settings.node.state_dir)
    return Bus(servers, settings.bus, name="hydra-cli", credentials=local)


def with_bus(settings: Settings, fn: Callable[[Bus], Awaitable[T]]) -> T:
    async def go() -> T:
        async with cli_bus(settings) as bus:
            return await fn(bus)

    try:
        return asyncio.run(go())
    except HydraError as e:
        fail(e)
