"""What every managed engine provides: its argv, environment, files, readiness and load probes.

An engine is stateless: it turns a :class:`Launch` (the model, where it listens, which GPUs) into
the command line the real CLI expects, and knows which HTTP endpoints say "ready" and "busy".
Running the process (child process or systemd unit) is the runner's job, not the engine's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hydra_os.sections.models import ModelSpec


@dataclass(frozen=True)
class Launch:
    spec: ModelSpec
    host: str
    """Address the engine binds."""
    port: int
    workdir: Path
    """``<state_dir>/engines/<model>``: logs and generated files."""
    gpu_indices: tuple[int, ...] = ()
    gpu_fraction: float | None = None
    """Share of each chosen GPU's total memory the model may take (vLLM's --gpu-memory-utilization)."""
    command: tuple[str, ...] = field(default=())
    """Argv prefix that runs the engine binary."""


@dataclass(frozen=True)
class Probe:
    ready: bool
    detail: str


class Engine(Protocol):
    kind: str

    def argv(self, launch: Launch) -> list[str]: ...

    def env(self, launch: Launch) -> dict[str, str]: ...

    def prepare(self, launch: Launch) -> None:
        """Write any files the engine reads (TabbyAPI's config.yml). Blocking, small."""
        ...

    def cwd(self, launch: Launch) -> Path | None: ...

    async def probe(self, http: httpx.AsyncClient, base: str, launch: Launch) -> Probe:
        """One readiness check against ``base`` (http://host:port, no /v1)."""
        ...

    async def in_flight(self, http: httpx.AsyncClient, base: str) -> int | None:
        """Requests running or queued in the engine, from its own metrics; None when it cannot say."""
        ...


class ProcessEngine:
    """Defaults for an engine run as a plain child: CUDA pinned to its GPUs, a writable HOME and caches
    (:func:`dirs_env`), no other files, any cwd."""

    def env(self, launch: Launch) -> dict[str, str]:
        return {**dirs_env(launch), **cuda_env(launch)}

    def prepare(self, launch: Launch) -> None:
        for d in dirs_env(launch).values():
            Path(d).mkdir(parents=True, exist_ok=True)

    def cwd(self, launch: Launch) -> Path | None:
        return None


def dirs_env(launch: Launch) -> dict[str, str]:
    """HOME, cache and download dirs for the engine. Under the hardened NixOS unit there is no usable
    home (DynamicUser), so the module sets HOME, XDG_CACHE_HOME and HF_HOME under the unit's
    StateDirectory/CacheDirectory and they are passed on; where the daemon's environment does not set
    them, they go under ``<state_dir>/engines/``. vLLM, Triton and PyTorch caches follow XDG_CACHE_HOME."""
    base = launch.workdir.parent
    cache = os.environ.get("XDG_CACHE_HOME") or str(base / "cache")
    return {
        "HOME": os.environ.get("HOME") or str(base / "home"),
        "XDG_CACHE_HOME": cache,
        "HF_HOME": os.environ.get("HF_HOME") or f"{cache}/huggingface",
        "VLLM_CACHE_ROOT": os.environ.get("VLLM_CACHE_ROOT") or f"{cache}/vllm",
        "TRITON_CACHE_DIR": os.environ.get("TRITON_CACHE_DIR") or f"{cache}/triton",
    }


def cuda_env(launch: Launch) -> dict[str, str]:
    """Pin the engine to its planned GPUs; CPU-only models see none."""
    if launch.spec.gpus == 0:
        return {"CUDA_VISIBLE_DEVICES": ""}
    if launch.gpu_indices:
        return {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in launch.gpu_indices)}
    return {}


async def get_ok(http: httpx.AsyncClient, url: str) -> tuple[bool, str, httpx.Response | None]:
    try:
        r = await http.get(url)
    except httpx.HTTPError as e:
        return False, f"{url}: {type(e).__name__}", None
    return r.status_code == 200, f"{url}: HTTP {r.status_code}", r


def model_listed(r: httpx.Response, model_id: str) -> bool:
    """Whether an OpenAI ``/v1/models`` answer lists ``model_id``."""
    try:
        data = r.json().get("data") or []
    except (ValueError, AttributeError):
        return False
    return any(isinstance(m, dict) and m.get("id") == model_id for m in data)


async def prometheus_sum(http: httpx.AsyncClient, url: str, names: tuple[str, ...]) -> int | None:
    """Sum of the named gauges in a Prometheus text exposition; None when unreachable or absent."""
    try:
        r = await http.get(url)
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    total = 0.0
    found = False
    try:
        for fam in text_string_to_metric_families(r.text):
            for s in fam.samples:
                if s.name in names:
                    total += s.value
                    found = True
    except ValueError:
        return None
    return int(total) if found else None
