"""The Healing & models page against a real GPU daemon (stand-in NVML, stand-in vLLM engine): GPUs with
VRAM on the overview, start and stop a model, and a refused start shows the manager's one-line error."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest

from tests.helpers import DaemonProc, daemon_env
from tests.standins.engines.fixtures import build_fake_nvml, cmd, write_gpus

pytestmark = pytest.mark.e2e


def _flash(html: str) -> str:
    m = re.search(r'<p class="flash (?:ok|error)"[^>]*>([^<]*)</p>', html)
    return m.group(1) if m else ""


async def test_start_and_stop_a_model_from_the_page(tmp_path: Path) -> None:
    lib = build_fake_nvml(tmp_path / "nvml")
    if lib is None:
        pytest.skip("no C compiler to build the stand-in libnvidia-ml.so.1")
    gpus = tmp_path / "gpus.txt"
    write_gpus(gpus, [("RTX-3090-standin", 24576, 16000)])
    state = tmp_path / "gpu1"
    argv = "[" + ", ".join(json.dumps(a) for a in cmd("vllm")) + "]"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[node]\nroles = ["gateway", "gpu"]\nstate_dir = "{state}"\nid = "gpu1"\n'
        '[models]\nhealth_interval_s = 0.2\nvram_headroom_mb = 1000\n'
        f'[[models.model]]\nid = "small"\nengine = "vllm"\nrepo = "org/small"\nvram_mb = 14000\ntier = "standard"\n'
        f'command = {argv}\nstart_timeout_s = 20\n'
        f'[[models.model]]\nid = "big"\nengine = "vllm"\nrepo = "org/big"\nvram_mb = 20000\ntier = "heavy"\n'
        f'command = {argv}\n'
    )
    env = daemon_env(HYDRA_CONFIG=str(cfg), LD_LIBRARY_PATH=str(lib.parent), HYDRA_STANDIN_NVML_FILE=str(gpus))
    d = DaemonProc("gpu1", state, env).start(timeout=60)
    try:
        async with httpx.AsyncClient(base_url=d.api_url, headers={"origin": d.api_url}, timeout=90) as c:
            r = await c.post("/ui/login", data={"secret": d.token})
            c.cookies.set("hydra_ui", r.cookies["hydra_ui"])
            home = (await c.get("/ui/")).text
            assert "GPU 0 RTX-3090-standin: 8576 MB used, 16000 MB free" in home
            assert 'small <span class="state">stopped</span>' in home and "gpu1: " in home
            page = (await c.get("/ui/healing")).text
            assert '<strong>small</strong> <span class="state">stopped</span>' in page, page
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

            await c.post("/ui/models/gpu1/big/start", data={"csrf": csrf})
            refused = _flash((await c.get("/ui/healing")).text)
            assert "big" in refused and "MiB" in refused, refused  # needed vs free, one line

            await c.post("/ui/models/gpu1/small/start", data={"csrf": csrf})
            assert _flash((await c.get("/ui/healing")).text).startswith("small on gpu1: ")
            for _ in range(60):
                page = (await c.get("/ui/healing")).text
                if '<strong>small</strong> <span class="state">ready</span>' in page:
                    break
                await asyncio.sleep(0.5)
            assert '<strong>small</strong> <span class="state">ready</span>' in page
            await c.post("/ui/models/gpu1/small/stop", data={"csrf": csrf})
            assert _flash((await c.get("/ui/healing")).text) == "small on gpu1: stopped"
    finally:
        d.stop()
