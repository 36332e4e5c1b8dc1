"""Executors for operations asked in words, each run only by the policy gate (``gate.submit``).

- ``model.unload`` / ``model.load``: the model manager's node RPC verbs ``models.stop`` / ``models.start``
  on the node that has the model. "the big model" is the running model with the most VRAM; a name
  ("unload qwen") is matched against model ids.
- ``disk.free_cache``: the healing ``free_disk`` fixup's routine (oldest files first, only regular files
  inside ``healing.cache_dirs``, symlinks not followed) on this node, emptying the configured caches.
  A request naming another node ("on the storage node") is handed to that node's intake (``ask`` RPC),
  so that node's own policy gate decides and its own executor runs.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.errors import HydraError
from hydra_os.healing.fixups.free_disk import free_until
from hydra_os.node import rpc
from hydra_os.policy.model import Action, BlastRadius, Executor

_WORDS = re.compile(r"[a-z0-9][a-z0-9._-]*")
_FILLER = {"the", "a", "my", "our", "please", "model", "models", "now", "unload", "stop", "start", "load", "serve",
           "spin", "up", "shut", "down", "big", "biggest", "large", "largest", "on", "node", "gpu"}


@dataclass(frozen=True)
class ModelRef:
    node: str
    id: str
    vram_mb: int
    state: str


async def list_models(bus: Bus, nodes: list[str]) -> list[ModelRef]:
    """Every model the live GPU nodes' managers know (nodes without a manager are skipped)."""
    async def one(node: str) -> list[ModelRef]:
        try:
            out = await rpc.call(bus, node, "models.list", {}, timeout=5)
        except HydraError:
            return []
        return [ModelRef(node, str(m["id"]), int(m.get("vram_mb") or 0), str(m.get("state", "stopped")))
                for m in out.get("models", [])]

    found = await asyncio.gather(*(one(n) for n in nodes))
    return [m for ms in found for m in ms]


def pick_model(models: list[ModelRef], subject: str, *, running: bool) -> ModelRef | str:
    """The model a request means, or a one-line reason why none can be chosen."""
    pool = [m for m in models if (m.state != "stopped") == running]
    if not pool:
        return "no model is running" if running else "every known model is already running (or none is known)"
    words = [w for w in _WORDS.findall(subject.lower()) if w not in _FILLER]
    if words:
        return _named(pool, words, running=running)
    if _BIG.search(subject.lower()) or len(pool) == 1:
        return _biggest(pool)
    return f"which model? running: {_listing(pool)}"


_BIG = re.compile(r"\b(?:big|biggest|large|largest)\b")


def _named(pool: list[ModelRef], words: list[str], *, running: bool) -> ModelRef | str:
    """The biggest model whose id holds every word, or why none does."""
    named = [m for m in pool if all(w in m.id.lower() for w in words)]
    if named:
        return _biggest(named)
    return f"no {'running' if running else 'stopped'} model matches {' '.join(words)!r} (known: {_listing(pool)})"


def _biggest(models: list[ModelRef]) -> ModelRef:
    return max(models, key=lambda m: m.vram_mb)


def _listing(models: list[ModelRef]) -> str:
    return ", ".join(sorted(m.id for m in models)[:8])


def model_action(bus: Bus, m: ModelRef, *, unload: bool) -> tuple[Action, Executor]:
    """The gate's action for (un)loading ``m`` and the executor that asks its node's model manager."""
    verb = "models.stop" if unload else "models.start"
    action = Action(kind="model.unload" if unload else "model.load", target=f"model:{m.id}",
                    params={"model": m.id, "node": m.node, "vram_mb": m.vram_mb}, reversible=True,
                    blast_radius=BlastRadius.SERVICE,
                    summary=f"{'unload' if unload else 'load'} {m.id} on {m.node} (asked by the owner)")

    async def execute(a: Action) -> dict[str, Any]:
        return await rpc.call(bus, str(a.params["node"]), verb, {"id": a.params["model"]}, timeout=600)

    return action, execute


def disk_action(node_id: str, cache_dirs: list[Path]) -> tuple[Action, Executor] | str:
    """Empty the configured caches on this node, or a one-line reason why there is nothing to run."""
    dirs = [d for d in cache_dirs if d.is_dir()]
    if not dirs:
        return "no cache directory is configured on this node (healing.cache_dirs), so there is nothing safe to free"
    path = dirs[0]
    action = Action(kind="disk.free_cache", target=f"disk:{node_id}:{path}",
                    params={"path": str(path), "cache_dirs": [str(d) for d in dirs], "node": node_id},
                    reversible=True, blast_radius=BlastRadius.SERVICE,
                    summary=f"free disk on {node_id} by emptying its known caches (asked by the owner)")

    async def execute(a: Action) -> dict[str, Any]:
        allowed = {str(d) for d in cache_dirs}  # config is the authority, not the action's params
        use = [Path(d) for d in a.params["cache_dirs"] if d in allowed]
        total = shutil.disk_usage(a.params["path"]).total
        return await asyncio.to_thread(free_until, Path(a.params["path"]), total, use)

    return action, execute


_NODE = re.compile(r"\bon (?:the )?(?P<name>[a-z0-9_-]+)(?: node| machine| box| server)?\b")


def target_node(subject: str, nodes: dict[str, list[str]]) -> str | None:
    """A node named in the request ("on the storage node", "on gpu-1"): by id, else by role. None: this one."""
    for m in _NODE.finditer(subject.lower()):
        name = m.group("name")
        if name in nodes:
            return name
        by_role = sorted(n for n, roles in nodes.items() if name in roles)
        if by_role:
            return by_role[0]
    return None
