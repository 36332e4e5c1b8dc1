"""A backup taken on one node of a cluster holds the memory of the cluster's memory node.

docs/recovery.md says memory is read over the bus (``memory.backup.export_memory`` through the memory
client), so the worker that takes the nightly backup need not be the memory node; the state files in
``files/`` are the taking node's own. Two real daemons on one nats-server: ``mem`` (memory only) and
``wk`` (worker and gateway, no memory role).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hydra_os.backup.archive import unpack
from hydra_os.backup.parts import MEMORY_PART
from tests.helpers import DaemonProc, NatsProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e

FACTS = ["the NAS is at 10.0.0.5 in the basement rack", "the owner's dog is called Biscuit"]


def _memory_up(d: DaemonProc) -> bool:
    with d.client() as c:
        return c.post("/v1/memory/context", json={"query": "ping"}).status_code == 200


def test_a_worker_s_backup_holds_the_memory_node_s_stores(nats_proc: NatsProc, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[memory.embed]\nbackend = "hashing"\n\n[backup]\ndestination = "{tmp_path / "backups"}"\n')
    mem = DaemonProc("mem", tmp_path / "mem", daemon_env(HYDRA_CONFIG=str(cfg), HYDRA_BUS__URL=nats_proc.url,
                                                         HYDRA_NODE__ROLES="memory"))
    wk = DaemonProc("wk", tmp_path / "wk", daemon_env(HYDRA_CONFIG=str(cfg), HYDRA_BUS__URL=nats_proc.url,
                                                        HYDRA_NODE__ROLES="worker,gateway"))
    try:
        mem.start(timeout=60)
        wk.start(timeout=60)
        wait_for(lambda: _memory_up(wk), 90, what="the memory node serves the worker")
        with wk.client() as c:
            for f in FACTS:
                assert c.post("/v1/memory/remember", json={"text": f, "source": "cluster"}).status_code == 200
            r = c.post("/v1/backups", json={}, timeout=120)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "succeeded", body
        archive = tmp_path / "backups" / body["backup"]["name"]
        manifest = unpack(archive, tmp_path / "parts")
        assert manifest.node == "wk" and manifest.counts["memory:passage"] == len(FACTS)
        records = [json.loads(line) for line in (tmp_path / "parts" / MEMORY_PART).read_text().splitlines()]
        texts = json.dumps(records)
        assert all(f in texts for f in FACTS)  # the memory node's passages, taken on the worker
    finally:
        wk.stop()
        mem.stop()
