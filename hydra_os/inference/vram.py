"""VRAM placement: which GPUs a model goes on, refusing what cannot fit, and what may be evicted.

Free memory per GPU is taken conservatively as::

    available = min(nvml_free, nvml_total - reserved_by_our_models) - headroom

``nvml_free`` catches memory used by anything (other processes, engines still loading);
``total - reserved`` catches models of ours that are placed but have not allocated yet (an engine
takes seconds to minutes to load), so two quick starts cannot both claim the same free memory.
Pure functions on :class:`~hydra_os.node.gpu.GpuInfo` data; the manager reads NVML and calls them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hydra_os.inference.engines.errors import PlacementError
from hydra_os.node.gpu import GpuInfo


@dataclass(frozen=True)
class Placement:
    gpu_indices: tuple[int, ...]
    per_gpu_mb: int
    gpu_fraction: float | None
    """Share of the smallest chosen GPU's total memory the model may take (for vLLM)."""


@dataclass(frozen=True)
class Resident:
    """A model of ours that holds VRAM now."""

    model_id: str
    gpu_indices: tuple[int, ...]
    per_gpu_mb: int
    in_flight: int | None
    """Requests running or queued; None when unknown (such a model is never evicted)."""
    started_at: float


def available_mb(gpus: Sequence[GpuInfo], residents: Sequence[Resident], headroom_mb: int) -> dict[int, int]:
    reserved: dict[int, int] = {g.index: 0 for g in gpus}
    for r in residents:
        for i in r.gpu_indices:
            reserved[i] = reserved.get(i, 0) + r.per_gpu_mb
    return {g.index: min(g.memory_free_mb, g.memory_total_mb - reserved[g.index]) - headroom_mb for g in gpus}


def _describe(gpus: Sequence[GpuInfo], avail: dict[int, int]) -> str:
    return ", ".join(f"GPU{g.index} {g.name}: {max(avail[g.index], 0)} MiB free" for g in gpus)


def plan(
    model_id: str,
    vram_mb: int,
    n_gpus: int,
    gpus: Sequence[GpuInfo],
    residents: Sequence[Resident] = (),
    headroom_mb: int = 0,
) -> Placement:
    """Pick ``n_gpus`` GPUs that each have ``vram_mb / n_gpus`` available, most free first."""
    if n_gpus == 0:
        return Placement((), 0, None)
    if len(gpus) < n_gpus:
        found = f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''}" if gpus else "no GPU (NVML found none)"
        raise PlacementError(f"cannot place {model_id!r}: it needs {n_gpus} GPU(s), this node has {found}")
    need = math.ceil(vram_mb / n_gpus)
    avail = available_mb(gpus, residents, headroom_mb)
    fitting = sorted((g for g in gpus if avail[g.index] >= need), key=lambda g: -avail[g.index])
    if len(fitting) < n_gpus:
        raise PlacementError(
            f"cannot place {model_id!r}: needs {need} MiB on each of {n_gpus} GPU(s) ({vram_mb} MiB in all); "
            f"available after {headroom_mb} MiB headroom and models already placed here: "
            f"{_describe(gpus, avail)}"
        )
    chosen = sorted(g.index for g in fitting[:n_gpus])
    smallest = min(g.memory_total_mb for g in gpus if g.index in chosen)
    fraction = min(0.98, max(0.05, need / smallest)) if need and smallest else None
    return Placement(tuple(chosen), need, fraction)


def plan_with_eviction(
    model_id: str,
    vram_mb: int,
    n_gpus: int,
    gpus: Sequence[GpuInfo],
    residents: Sequence[Resident],
    headroom_mb: int = 0,
) -> tuple[Placement, list[str]]:
    """Like :func:`plan`, evicting idle residents (oldest first) until it fits.

    A resident with requests in flight, or whose load is unknown, is never chosen. Raises
    :class:`PlacementError` naming the busy models when even evicting every idle one is not enough.
    """
    try:
        return plan(model_id, vram_mb, n_gpus, gpus, residents, headroom_mb), []
    except PlacementError as first:
        error = first
    idle = sorted((r for r in residents if r.in_flight == 0), key=lambda r: r.started_at)
    busy = [r for r in residents if r.in_flight != 0]
    kept = list(residents)
    evicted: list[str] = []
    for r in idle:
        kept.remove(r)
        evicted.append(r.model_id)
        gpus = _freed(gpus, r)
        try:
            return plan(model_id, vram_mb, n_gpus, gpus, kept, headroom_mb), evicted
        except PlacementError as e:
            error = e
    why = ""
    if busy:
        names = ", ".join(
            f"{r.model_id} ({'load unknown' if r.in_flight is None else f'{r.in_flight} in flight'})"
            for r in busy
        )
        why = f"; not evicting busy models: {names}"
    raise PlacementError(f"{error}{why}")


def _freed(gpus: Sequence[GpuInfo], r: Resident) -> list[GpuInfo]:
    """GPU figures as they will be once ``r`` stopped and released its memory."""
    out = []
    for g in gpus:
        if g.index in r.gpu_indices:
            free = min(g.memory_total_mb, g.memory_free_mb + r.per_gpu_mb)
            out.append(g.model_copy(update={"memory_free_mb": free}))
        else:
            out.append(g)
    return out
