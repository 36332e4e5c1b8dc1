"""GPUs and free VRAM in every heartbeat, read through the real pynvml code path.

The NVML library is a stand-in (tests/standins/engines/fake_nvml.c, compiled here) loaded through
LD_LIBRARY_PATH: pynvml and hydra_os.node.gpu run unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import DaemonProc, daemon_env, wait_for
from tests.standins.engines.fixtures import build_fake_nvml, write_gpus

pytestmark = pytest.mark.e2e


def test_heartbeat_reports_gpus_and_free_vram(tmp_path: Path) -> None:
    lib = build_fake_nvml(tmp_path / "nvml")
    if lib is None:
        pytest.skip("no C compiler to build the NVML stand-in")
    gpus_file = tmp_path / "gpus.txt"
    write_gpus(gpus_file, [("RTX-4090", 24564, 20000), ("RTX-3090", 24576, 24000)])
    env = daemon_env(LD_LIBRARY_PATH=str(lib.parent), HYDRA_STANDIN_NVML_FILE=str(gpus_file))
    d = DaemonProc("gpu1", tmp_path / "gpu1", env).start()
    try:
        with d.client() as c:
            node = c.get("/v1/nodes").json()[0]
            assert [g["name"] for g in node["gpus"]] == ["RTX-4090", "RTX-3090"]
            assert [g["memory_free_mb"] for g in node["gpus"]] == [20000, 24000]
            assert c.get("/v1/status").json()["nvml"] == "ok"
            # the next heartbeat carries the new reading
            write_gpus(gpus_file, [("RTX-4090", 24564, 4000), ("RTX-3090", 24576, 24000)])
            wait_for(lambda: c.get("/v1/nodes").json()[0]["gpus"][0]["memory_free_mb"] == 4000, 5,
                     what="free VRAM refreshed by the heartbeat")
    finally:
        d.stop()


def test_no_gpu_is_normal(tmp_path: Path) -> None:
    d = DaemonProc("cpu1", tmp_path / "cpu1", daemon_env(LD_LIBRARY_PATH=str(tmp_path))).start()
    try:
        with d.client() as c:
            assert c.get("/v1/nodes").json()[0]["gpus"] == []
            st = c.get("/v1/status").json()
            assert st["ready"] and st["gpus"] == [] and "NVML" in st["nvml"]
        assert "ERROR" not in d.logs()
    finally:
        d.stop()
