"""Several daemons on one machine: one shared NATS, and a real three-server NATS cluster."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import DaemonProc, NatsProc, daemon_env, free_port, wait_for

pytestmark = pytest.mark.e2e


def _daemons(tmp_path: Path, urls: list[str], extra_env: dict[str, str] | None = None) -> list[DaemonProc]:
    return [
        DaemonProc(f"n{i}", tmp_path / f"n{i}", daemon_env(HYDRA_BUS__URL=url, **(extra_env or {})))
        for i, url in enumerate(urls, start=1)
    ]


def test_three_daemons_see_each_other_kill9_and_rejoin(tmp_path: Path, nats_proc: NatsProc) -> None:
    ds = _daemons(tmp_path, [nats_proc.url] * 3)
    try:
        for d in ds:
            d.start()
        for d in ds:
            wait_for(lambda d=d: d.nodes() == ["n1", "n2", "n3"], 5, what=f"{d.node_id} sees all three")

        victim = ds[2]
        victim.kill9()
        killed_at = time.monotonic()
        for d in ds[:2]:
            wait_for(lambda d=d: d.nodes() == ["n1", "n2"], 6, what=f"{d.node_id} sees n3 gone")
        detection = time.monotonic() - killed_at
        # default heartbeat 1 s / gone after 3 s; generous bound on a loaded 2-core CI box
        assert detection < 6, detection

        victim.start()
        for d in ds:
            wait_for(lambda d=d: d.nodes() == ["n1", "n2", "n3"], 5, what=f"{d.node_id} sees n3 back")
        # the bus carries join and leave events for n3, each once although every peer reports the leave
        with ds[0].client() as c:
            st = c.get("/v1/status").json()
        assert st["bus"]["connected"] and st["ready"]
    finally:
        for d in ds:
            d.stop()


def test_nats_cluster_failover_keeps_membership(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    cports = [free_port() for _ in range(3)]
    servers = [
        NatsProc(f"s{i}", ports[i], tmp_path / f"s{i}", cluster_port=cports[i],
                 routes=[cports[j] for j in range(3) if j != i])
        for i in range(3)
    ]
    for s in servers:
        s.start()
    # each daemon is attached to a different server first, and knows the others for failover
    urls = [",".join([servers[i].url] + [servers[j].url for j in range(3) if j != i]) for i in range(3)]
    ds = _daemons(tmp_path, urls, {"HYDRA_BUS__REPLICAS": "3"})
    try:
        for d in ds:
            d.start(timeout=40)
        for d in ds:
            wait_for(lambda d=d: d.nodes() == ["n1", "n2", "n3"], 10, what=f"{d.node_id} sees all three")
        for d in ds:
            with d.client() as c:
                assert c.get("/v1/status").json()["bus"]["server"].endswith(f":{ports[ds.index(d)]}")

        servers[0].kill9()  # n1's server
        with ds[0].client() as c:
            wait_for(lambda: c.get("/v1/status").json()["bus"]["reconnects"] >= 1, 10, what="n1 fails over")
            server = c.get("/v1/status").json()["bus"]["server"]
        assert not server.endswith(f":{ports[0]}")
        # membership stays intact through the failover: nobody drops out for good
        time.sleep(4)  # longer than gone_after
        for d in ds:
            wait_for(lambda d=d: d.nodes() == ["n1", "n2", "n3"], 10, what=f"{d.node_id} sees all three after failover")
    finally:
        for d in ds:
            d.stop()
        for s in servers:
            s.stop()
