"""A real ``hydra run`` (roles gateway + gpu) whose pynvml loads a stand-in libnvidia-ml.so.1
(LD_LIBRARY_PATH), serving stand-in engines; driven with the real ``hydra models`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, DaemonProc, daemon_env, wait_for
from tests.standins.engines.fixtures import build_fake_nvml, cmd, write_gpus

pytestmark = pytest.mark.e2e


def _hydra(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hydra_os", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _toml_list(argv: list[str]) -> str:
    return "[" + ", ".join(json.dumps(a) for a in argv) + "]"


def test_models_cli_against_a_daemon_with_stand_in_nvml(tmp_path: Path) -> None:
    lib = build_fake_nvml(tmp_path / "nvml")
    if lib is None:
        pytest.skip("no C compiler to build the stand-in libnvidia-ml.so.1")
    gpus = tmp_path / "gpus.txt"
    write_gpus(gpus, [("RTX-3090-standin", 24576, 16000), ("RTX-4090-standin", 24576, 12000)])
    state = tmp_path / "gpu1"
    gguf = tmp_path / "auto.gguf"
    gguf.write_bytes(b"GGUF")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[node]\nroles = ["gateway", "gpu"]\nstate_dir = "{state}"\nid = "gpu1"\n'
        '[membership]\nheartbeat_interval = 0.3\ngone_after = 1.2\n'
        '[models]\nhealth_interval_s = 0.2\nvram_headroom_mb = 1000\n'
        f'[[models.model]]\nid = "small"\nengine = "vllm"\nrepo = "org/small"\nvram_mb = 14000\ntier = "standard"\n'
        f'command = {_toml_list(cmd("vllm"))}\nstart_timeout_s = 20\n'
        f'[[models.model]]\nid = "big"\nengine = "vllm"\nrepo = "org/big"\nvram_mb = 20000\ntier = "heavy"\n'
        f'command = {_toml_list(cmd("vllm"))}\n'
        f'[[models.model]]\nid = "auto"\nengine = "llama-server"\npath = "{gguf}"\ngpus = 0\ntier = "fast"\n'
        f'autostart = true\ncompletions_only = true\ncommand = {_toml_list(cmd("llama-server"))}\n'
    )
    env = daemon_env(HYDRA_CONFIG=str(cfg), LD_LIBRARY_PATH=str(lib.parent), HYDRA_STANDIN_NVML_FILE=str(gpus))
    d = DaemonProc("gpu1", state, env).start()
    engine_pids: list[int] = []
    try:
        # the node's own status reads the same NVML stand-in
        with d.client() as c:
            st = c.get("/v1/status").json()
        assert [g["name"] for g in st["gpus"]] == ["RTX-3090-standin", "RTX-4090-standin"]
        assert st["nvml"] == "ok"

        with d.client() as c:
            wait_for(lambda: c.get("/v1/status").json()["components"]["models"]["running"].get("auto") == "ready",
                     20, what="autostarted model ready")
        listed = json.loads(_hydra(["models", "list", "--json"], env).stdout)
        assert [(m["id"], m["state"]) for m in listed[0]["models"]] == [
            ("auto", "ready"), ("big", "stopped"), ("small", "stopped")]
        table = _hydra(["models", "list"], env)
        assert table.returncode == 0 and "RTX-4090-standin: 12000 of 24576 MiB free" in table.stdout

        out = _hydra(["models", "start", "small"], env)
        assert out.returncode == 0, out.stderr
        assert "small on gpu1: ready at http://127.0.0.1:" in out.stdout
        small = json.loads(_hydra(["models", "status", "small", "--json"], env).stdout)
        assert small["gpus"] == [0] and small["state"] == "ready"
        engine_pids.append(small["pid"])
        argv = (Path(small["log"]).read_text())
        assert "--gpu-memory-utilization 0.570" in argv  # 14000 of 24576 MiB

        # no GPU has 20000 MiB left: refused with needed vs free per GPU, exit 2, one line
        big = _hydra(["models", "start", "big"], env)
        assert big.returncode == 2 and "Traceback" not in big.stderr
        msg = " ".join(big.stderr.split())
        assert "needs 20000 MiB on each of 1 GPU(s)" in msg
        assert "GPU0 RTX-3090-standin: 9576 MiB free" in msg and "GPU1 RTX-4090-standin: 11000 MiB free" in msg
        assert "may stop idle: small" in msg

        # through the gateway: the announced endpoint serves completions, the base model only those
        with d.client() as c:
            wait_for(lambda: {"small", "auto"} <= {m["id"] for m in c.get("/v1/models").json()["data"]}, 10,
                     what="endpoints announced to the gateway")
            r = c.post("/v1/completions", json={"model": "small", "prompt": "Once", "max_tokens": 4})
            assert r.status_code == 200 and r.json()["choices"][0]["text"] == "w0 w1 w2 w3"
            with c.stream("POST", "/v1/completions",
                          json={"model": "auto", "prompt": "Once", "max_tokens": 3, "stream": True}) as s:
                body = "".join(s.iter_text())
            assert s.status_code == 200 and body.rstrip().endswith("data: [DONE]") and '" w2"' in body

        unknown = _hydra(["models", "start", "ghost"], env)
        assert unknown.returncode == 2 and "no GPU node declares a model 'ghost'" in unknown.stderr

        stop = _hydra(["models", "stop", "small"], env)
        assert stop.returncode == 0 and "small on gpu1: stopped" in stop.stdout
        with pytest.raises(ProcessLookupError):
            os.kill(small["pid"], 0)
        auto = json.loads(_hydra(["models", "status", "auto", "--json"], env).stdout)
        engine_pids.append(auto["pid"])
        with d.client() as c:
            wait_for(lambda: "small" not in {m["id"] for m in c.get("/v1/models").json()["data"]}, 10,
                     what="stopped model withdrawn")
    finally:
        assert d.stop() == 0, d.logs()
    for pid in engine_pids:  # the daemon stopped its engines on the way out
        wait_for(lambda pid=pid: not _alive(pid), 5, what=f"engine {pid} gone")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
