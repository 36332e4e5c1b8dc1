"""Helpers for the engine and model-manager tests: stand-in commands, the fake NVML library."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hydra_os.node.gpu import GpuInfo

HERE = Path(__file__).resolve().parent


def cmd(name: str) -> list[str]:
    """Argv prefix that runs a stand-in engine (the manager's configurable engine command)."""
    return [sys.executable, str(HERE / name)]


def gpu(index: int, total: int, free: int, name: str = "RTX-3090") -> GpuInfo:
    return GpuInfo(index=index, name=name, uuid=f"GPU-{index}", memory_total_mb=total, memory_free_mb=free)


def build_fake_nvml(out_dir: Path) -> Path | None:
    """Compile the stand-in libnvidia-ml.so.1 into ``out_dir``; None when no C compiler is present."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / "libnvidia-ml.so.1"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-Wl,-soname,libnvidia-ml.so.1", "-o", str(lib),
                    str(HERE / "fake_nvml.c")], check=True, capture_output=True)
    return lib


def write_gpus(path: Path, gpus: list[tuple[str, int, int]]) -> None:
    """The fake NVML's GPU file: one '<name> <total_mib> <free_mib>' line per GPU."""
    path.write_text("".join(f"{n} {t} {f}\n" for n, t, f in gpus))
