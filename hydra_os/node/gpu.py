"""GPU inventory through NVML (``nvidia-ml-py``). No GPU, no driver: an empty list, not an error."""

from __future__ import annotations

from typing import Any

import pynvml
from loguru import logger
from pydantic import BaseModel


class GpuInfo(BaseModel):
    index: int
    name: str
    uuid: str
    memory_total_mb: int
    memory_free_mb: int
    utilization_pct: int | None = None
    temperature_c: int | None = None


class NvmlProbe:
    """Reads GPUs through NVML. ``read()`` is blocking (a few ms): call it off the event loop."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._tried = False
        self.error: str | None = None

    def _init(self) -> bool:
        if self._tried:
            return self._nvml is not None
        self._tried = True
        try:
            pynvml.nvmlInit()
            self._nvml = pynvml
        except Exception as e:  # NVMLError_LibraryNotFound / DriverNotLoaded: a node without GPUs
            self.error = str(e) or type(e).__name__
            logger.debug("NVML unavailable ({}); reporting no GPUs", self.error)
        return self._nvml is not None

    @property
    def available(self) -> bool:
        return self._init()

    def read(self) -> list[GpuInfo]:
        if not self._init():
            return []
        nv = self._nvml
        gpus: list[GpuInfo] = []
        try:
            for i in range(nv.nvmlDeviceGetCount()):
                h = nv.nvmlDeviceGetHandleByIndex(i)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                name = nv.nvmlDeviceGetName(h)
                uuid = nv.nvmlDeviceGetUUID(h)
                util: int | None
                temp: int | None
                try:
                    util = int(nv.nvmlDeviceGetUtilizationRates(h).gpu)
                except nv.NVMLError:
                    util = None
                try:
                    temp = int(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
                except nv.NVMLError:
                    temp = None
                gpus.append(
                    GpuInfo(
                        index=i,
                        name=name.decode() if isinstance(name, bytes) else str(name),
                        uuid=uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                        memory_total_mb=int(mem.total) // (1024 * 1024),
                        memory_free_mb=int(mem.free) // (1024 * 1024),
                        utilization_pct=util,
                        temperature_c=temp,
                    )
                )
        except nv.NVMLError as e:
            self.error = str(e)
            logger.warning("NVML read failed: {}", e)
        return gpus

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
            self._nvml = None
