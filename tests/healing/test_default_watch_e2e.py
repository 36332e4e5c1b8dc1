"""Healing in its default configuration (no units, endpoints, models or disks listed), on real daemons.

- a gpu node's model engine killed with -9 is restarted (by the model manager through the policy gate),
  and the healer records one incident for it that resolves when the engine is back;
- the node's state dir is watched for low space without a ``healing.disks`` entry;
- a node that leaves the cluster opens exactly one incident on the others (``node:<id>``), resolved
  when it rejoins.
"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DaemonProc, NatsProc, daemon_env, wait_for
from tests.inference.test_manager_e2e import _hydra
from tests.standins.engines.fixtures import build_fake_nvml, cmd, write_gpus

pytestmark = pytest.mark.e2e

FAST = "[healing]\ninterval_s = 0.5\n"  # cadence only: what is watched stays the default


def _incidents(d: DaemonProc, all_: bool = True) -> list[dict[str, Any]]:
    with d.client() as c:
        r = c.get("/v1/healing/incidents", params={"all": all_})
        assert r.status_code == 200, r.text
        out: list[dict[str, Any]] = r.json()
        return out


def test_killed_engine_comes_back_and_is_one_incident(tmp_path: Path) -> None:
    lib = build_fake_nvml(tmp_path / "nvml")
    if lib is None:
        pytest.skip("no C compiler to build the stand-in libnvidia-ml.so.1")
    gpus = tmp_path / "gpus.txt"
    write_gpus(gpus, [("RTX-3090-standin", 24576, 16000)])
    state = tmp_path / "gpu1"
    gguf = tmp_path / "auto.gguf"
    gguf.write_bytes(b"GGUF")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[node]\nroles = ["gateway", "gpu"]\nstate_dir = "{state}"\nid = "gpu1"\n' + FAST
        + '[models]\nhealth_interval_s = 0.2\n'
        f'[[models.model]]\nid = "auto"\nengine = "llama-server"\npath = "{gguf}"\ngpus = 0\ntier = "fast"\n'
        f'autostart = true\ncompletions_only = true\ncommand = {json.dumps(cmd("llama-server"))}\n'
    )
    env = daemon_env(HYDRA_CONFIG=str(cfg), LD_LIBRARY_PATH=str(lib.parent), HYDRA_STANDIN_NVML_FILE=str(gpus))
    d = DaemonProc("gpu1", state, env).start()
    try:
        with d.client() as c:
            def running() -> Any:
                m = c.get("/v1/status").json()["components"]["models"]["running"]
                return m.get("auto") == "ready" or None

            wait_for(running, 30, what="autostarted model ready")
            wait_for(lambda: "model_engine" in c.get("/v1/status").json()["components"]["healing"]["checks"], 10,
                     what="model_engine check on")
            checks = c.get("/v1/status").json()["components"]["healing"]["checks"]
            assert {"model_engine", "disk_space", "bus_reachable", "node_reachable"} <= set(checks), checks
        pid = json.loads(_hydra(["models", "status", "auto", "--json"], env).stdout)["pid"]
        os.kill(pid, signal.SIGKILL)

        def resolved() -> Any:
            incs = [i for i in _incidents(d) if i["root"] == "engine:auto"]
            return incs if incs and incs[0]["status"] == "resolved" else None

        [inc] = wait_for(resolved, 60, interval=0.3, what="engine incident opened and resolved")
        assert "model manager" in inc["outcome"] or "recovered" in inc["outcome"], inc
        assert inc["actions"] == []  # the manager restarted it; the healer did not submit a second restart
        with d.client() as c:
            wait_for(lambda: c.get("/v1/status").json()["components"]["models"]["running"].get("auto") == "ready",
                     30, what="engine ready again")
            last = c.get("/v1/status").json()["components"]["healing"]["last_round"]
        # the state dir's filesystem is watched by default
        assert not any(i["root"].startswith("disk:") for i in _incidents(d, all_=False))
        assert "disk_space" not in last.get("errors", {})
    finally:
        assert d.stop() == 0, d.logs()


def test_a_node_that_leaves_is_one_incident(tmp_path: Path, nats_proc: NatsProc) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[node]\nroles = ["gateway"]\n' + FAST
                   + "[membership]\nheartbeat_interval = 0.3\ngone_after = 1.2\n")
    env = {"HYDRA_CONFIG": str(cfg), "HYDRA_BUS__URL": nats_proc.url}
    a = DaemonProc("na", tmp_path / "na", daemon_env(**env)).start()
    b = DaemonProc("nb", tmp_path / "nb", daemon_env(**env)).start()
    try:
        wait_for(lambda: a.nodes() == ["na", "nb"], 10, what="na sees nb")
        wait_for(lambda: (a.client().get("/v1/status").json()["components"]["healing"]["last_round"]
                          .get("checks") or []).count("node_reachable") == 1, 10, what="a round with the node check")
        b.kill9()

        def opened() -> Any:
            incs = _incidents(a, all_=False)
            return incs if any(i["root"] == "node:nb" for i in incs) else None

        incs = wait_for(opened, 20, interval=0.3, what="incident for the gone node")
        assert [i["root"] for i in incs] == ["node:nb"], incs  # one incident, nothing else on its account
        assert "nb is gone" in incs[0]["summary"]
        b.start()
        wait_for(lambda: not _incidents(a, all_=False), 20, interval=0.3, what="incident resolved on rejoin")
        [inc] = [i for i in _incidents(a) if i["root"] == "node:nb"]
        assert inc["status"] == "resolved" and inc["occurrences"] == 1
        # the outage is in the availability record, shown by `hydra heal uptime`
        cli = _hydra(["heal", "uptime", "--node", "na", "--json"], daemon_env(**env))
        assert cli.returncode == 0, cli.stderr
        up = {s["target"]: s for s in json.loads(cli.stdout)["services"]}
        nb = up["node:nb"]
        assert nb["up"] and nb["down_transitions_30d"] == 1 and 0 < nb["availability_24h"] < 1, nb
        assert up["bus"]["availability_24h"] == 1.0
        table = _hydra(["heal", "uptime", "--node", "na"], daemon_env(**env))
        assert "node:nb" in table.stdout and "availability on na" in table.stdout
    finally:
        for d in (a, b):
            d.stop()
