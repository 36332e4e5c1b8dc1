"""Our NVML readings against the named peer, ``nvidia-smi``, on a real GPU (run on a GPU node).

What it checks, side by side in one run:

1. ``NvmlProbe.read()`` (what the daemon reports as the node's GPUs and what VRAM placement uses)
   against ``nvidia-smi --query-gpu``: name, uuid, total and free MiB, utilisation, temperature.
2. ``GpuHealthProbe.read_health()`` (the healing check's ECC/throttle/temperature readings).
3. Free memory follows a real allocation: ``--alloc-gib`` GiB are taken with PyTorch on GPU 0 (when
   torch with CUDA is importable), then both readers are asked again; the drop is printed.
4. ``vram.plan`` on the live readings: a model that fits and one that cannot.
5. The cost of one ``read()`` (median of ``--reads``), since the daemon calls it off the event loop.

Prints a summary and writes JSON (``--out``, default bench/results/gpu_nvml.json). Nothing is
asserted; on a machine without a GPU it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from hydra_os.healing.gpu_health import GpuHealthProbe
from hydra_os.inference.engines.errors import PlacementError
from hydra_os.inference.vram import plan
from hydra_os.node.gpu import NvmlProbe

_SMI_FIELDS = "index,name,uuid,memory.total,memory.free,utilization.gpu,temperature.gpu"


def smi() -> list[dict[str, str]]:
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={_SMI_FIELDS}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return [{"error": str(e)}]
    keys = _SMI_FIELDS.split(",")
    return [dict(zip(keys, (c.strip() for c in line.split(",")), strict=True)) for line in out.splitlines() if line]


def snapshot(probe: NvmlProbe) -> dict[str, Any]:
    return {"hydra": [g.model_dump() for g in probe.read()], "nvidia_smi": smi()}


def read_cost_ms(probe: NvmlProbe, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        probe.read()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def alloc(gib: float) -> Any:
    try:
        import torch  # lazy: only on a GPU node with torch; the bench runs without it
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    block = torch.empty(int(gib * 1024**3), dtype=torch.uint8, device="cuda:0")
    torch.cuda.synchronize()
    return block


def placements(probe: NvmlProbe) -> list[dict[str, Any]]:
    gpus = probe.read()
    if not gpus:
        return []
    out: list[dict[str, Any]] = []
    free = gpus[0].memory_free_mb
    for name, mb in (("fits (half of free)", free // 2), ("too big (free + 8 GiB)", free + 8192)):
        try:
            p = plan(name, mb, 1, gpus, (), headroom_mb=1024)
            out.append({"model": name, "vram_mb": mb, "placed_on": list(p.gpu_indices),
                        "gpu_fraction": p.gpu_fraction})
        except PlacementError as e:
            out.append({"model": name, "vram_mb": mb, "refused": str(e)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alloc-gib", type=float, default=20.0)
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("bench/results/gpu_nvml.json"))
    a = ap.parse_args()
    probe = NvmlProbe()
    health = GpuHealthProbe()
    result: dict[str, Any] = {"available": probe.available, "error": probe.error}
    if probe.available:
        result["before"] = snapshot(probe)
        result["health"] = [h.model_dump() for h in health.read_health()]
        result["read_ms_p50"] = round(read_cost_ms(probe, a.reads), 3)
        block = alloc(a.alloc_gib)
        result["alloc_gib"] = a.alloc_gib if block is not None else None
        if block is not None:
            result["after_alloc"] = snapshot(probe)
            del block
        result["placements"] = placements(probe)
    print(json.dumps(result, indent=2))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
