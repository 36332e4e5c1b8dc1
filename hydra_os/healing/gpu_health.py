"""GPU health through NVML: temperature, uncorrected ECC errors, hardware/thermal slowdown.

Extends :class:`hydra_os.node.gpu.NvmlProbe` (same NVML initialisation, no GPU = empty list).
``read_health()`` is blocking: call it with ``asyncio.to_thread``.
"""

from __future__ import annotations

from pydantic import BaseModel

from hydra_os.node.gpu import NvmlProbe

# nvmlClocksThrottleReasons bits (nvml.h): HW slowdown, SW thermal, HW thermal, HW power brake
_THROTTLE_BITS = {0x8: "hw_slowdown", 0x20: "sw_thermal", 0x40: "hw_thermal", 0x80: "hw_power_brake"}


class GpuHealth(BaseModel):
    index: int
    name: str
    temperature_c: int | None = None
    ecc_uncorrected: int | None = None
    throttle: list[str] = []
    error: str | None = None


class GpuHealthProbe(NvmlProbe):
    def read_health(self) -> list[GpuHealth]:
        if not self._init():
            return []
        nv = self._nvml
        out: list[GpuHealth] = []
        try:
            count = nv.nvmlDeviceGetCount()
        except nv.NVMLError as e:
            self.error = str(e)
            return []
        for i in range(count):
            try:
                h = nv.nvmlDeviceGetHandleByIndex(i)
                name = nv.nvmlDeviceGetName(h)
            except nv.NVMLError as e:
                out.append(GpuHealth(index=i, name="?", error=f"NVML cannot read GPU {i}: {e}"))
                continue
            g = GpuHealth(index=i, name=name.decode() if isinstance(name, bytes) else str(name))
            try:
                g.temperature_c = int(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
            except nv.NVMLError as e:
                g.error = f"temperature unreadable: {e}"
            try:
                g.ecc_uncorrected = int(
                    nv.nvmlDeviceGetTotalEccErrors(h, nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC)
                )
            except nv.NVMLError:
                g.ecc_uncorrected = None  # ECC off or not supported (consumer cards)
            try:
                reasons = int(nv.nvmlDeviceGetCurrentClocksThrottleReasons(h))
                g.throttle = [label for bit, label in _THROTTLE_BITS.items() if reasons & bit]
            except (nv.NVMLError, AttributeError):
                g.throttle = []
            out.append(g)
        return out
