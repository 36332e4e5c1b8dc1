"""A real ``hydra run`` serves the creative studio: ``/v1/creative/*`` behind the bearer token, the project
kept in the node's state dir, memory (graph, ``projects`` core block) updated through the memory node
over the bus, and the creative task kinds served by its worker."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers import DaemonProc, daemon_env, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_a_node_serves_the_creative_studio(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[node]\nroles = ["memory", "scheduler", "worker"]\n[memory.embed]\nbackend = "hashing"\n')
    d = DaemonProc("art", tmp_path / "art", daemon_env(HYDRA_CONFIG=str(cfg))).start(timeout=60)
    try:
        assert httpx.get(d.api_url + "/v1/creative/projects", timeout=10).status_code == 401
        with d.client() as c:
            r = c.post("/v1/creative/projects", json={"id": "ebq", "project": {"title": "Empire of Broken Queens"}})
            assert r.status_code == 201, r.text
            r = c.put("/v1/creative/projects/ebq/characters/aria", json={"name": "Aria", "voice": {"pitch": 100}})
            assert r.status_code == 422 and "pitch" in r.text
            r = c.put("/v1/creative/projects/ebq/characters/aria", json={"name": "Aria"})
            assert r.status_code == 200 and r.json()["target"] == "character:aria"
            assert (d.state_dir / "creative" / "ebq" / "project.json").is_file()

            def synced() -> bool:  # memory opens in the background: a later write brings it up to date
                out = c.put("/v1/creative/projects/ebq/places/hall", json={"name": "Throne Hall"}).json()
                return bool(out["memory"] == "updated")

            wait_for(synced, 40, interval=1.0, what="memory sync (graph and the projects core block)")

            def served() -> bool:
                kinds = {k for ks in c.get("/v1/task-kinds").json().values() for k in ks}
                return {"creative.scene", "creative.assets"} <= kinds

            wait_for(served, 30, interval=0.5, what="the worker serving the creative kinds")
    finally:
        d.stop()
