"""The example hosts in nodes/ evaluated through the stand-in with the module, as nixosSystem would."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hydra_os.config import load_settings
from tests.nix.nixeval import eval_host, requires_nix

pytestmark = requires_nix

HOSTS = {
    "gpu-node": ["gpu", "gateway"],
    "compute-node": ["worker", "scheduler"],
    "storage-node": ["memory"],
}


@pytest.fixture(scope="module")
def hosts() -> dict[str, dict[str, Any]]:
    return {h: eval_host(host=h) for h in HOSTS}


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_host_config_validates_with_hydra(host: str, hosts: dict[str, dict[str, Any]], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("HYDRA_"):
            monkeypatch.delenv(k)
    r = hosts[host]
    assert r["enabled"] and r["hostName"] == host and r["warnings"] == []
    path = tmp_path / "config.toml"
    path.write_text(r["configToml"])
    s = load_settings(path)
    assert s.node.id == host and s.node.roles == HOSTS[host]
    assert s.bus.url == ["nats://127.0.0.1:4222"]  # the node's own server of the NATS cluster
    assert s.owner.timezone == "Europe/Berlin" and s.bus.replicas == 3


def test_one_nats_cluster_across_the_hosts(hosts: dict[str, dict[str, Any]]) -> None:
    nats = {h: r["nats"] for h, r in hosts.items()}
    assert all(n["enable"] and n["jetstream"] for n in nats.values())
    assert sorted(n["serverName"] for n in nats.values()) == sorted(HOSTS)  # unique names
    clusters = [n["settings"]["cluster"] for n in nats.values()]
    assert all(c == clusters[0] for c in clusters)
    assert sorted(clusters[0]["routes"]) == sorted(f"nats-route://{h}:6222" for h in HOSTS)
    for r in hosts.values():
        assert "nats.service" in r["units"]["hydra-os"]["after"]
        assert '["nats.service"]' in r["polkit"]["extraConfig"]


def test_only_the_gateway_is_reachable_from_the_lan(hosts: dict[str, dict[str, Any]]) -> None:
    assert hosts["gpu-node"]["firewall"]["allowedTCPPorts"] == [8700, 6222]
    assert tomllib.loads(hosts["gpu-node"]["configToml"])["api"]["host"] == "0.0.0.0"
    for h in ("compute-node", "storage-node"):
        assert hosts[h]["firewall"]["allowedTCPPorts"] == [6222]
        assert tomllib.loads(hosts[h]["configToml"])["api"]["host"] == "127.0.0.1"


def test_gpu_relaxations_only_on_the_gpu_node(hosts: dict[str, dict[str, Any]]) -> None:
    for h, r in hosts.items():
        sc = r["units"]["hydra-os"]["serviceConfig"]
        gpu = h == "gpu-node"
        assert sc["PrivateDevices"] is (not gpu) and sc["MemoryDenyWriteExecute"] is (not gpu)
        assert ("DeviceAllow" in sc) is gpu


def test_hosts_manage_and_watch_their_real_services(hosts: dict[str, dict[str, Any]], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """One list: the NATS unit the module runs is granted to healing (polkit) and watched (healing.units);
    every host can ask for the NixOS helper unit; the gpu node starts its model with the daemon."""
    for k in list(os.environ):
        if k.startswith("HYDRA_"):
            monkeypatch.delenv(k)
    for h, r in hosts.items():
        path = tmp_path / f"{h}.toml"
        path.write_text(r["configToml"])
        s = load_settings(path)
        assert s.healing.units == ["nats.service"], h
        assert s.healing.nixos.helper_unit is True
        assert 'var units = ["nats.service"]' in r["polkit"]["extraConfig"]
        assert "hydra-os-nixos@(test|boot|switch|rollback)" in r["polkit"]["extraConfig"]
        assert "hydra-os-nixos@" in r["units"]
    gpu = load_settings(tmp_path / "gpu-node.toml").models
    [m] = gpu.entries
    assert m.autostart and m.engine == "llama-server" and str(m.path).startswith("/var/lib/hydra-os/")
    assert gpu.llama_server_command[0].endswith("-llama-cpp-5141-cuda/bin/llama-server")


def test_storage_node_serves_memory_with_the_embedded_stores(hosts: dict[str, dict[str, Any]], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("HYDRA_"):
            monkeypatch.delenv(k)
    path = tmp_path / "storage.toml"
    path.write_text(hosts["storage-node"]["configToml"])
    s = load_settings(path)
    assert s.node.roles == ["memory"]
    assert s.memory.archival.backend == "edge" and s.memory.graph.backend == "ladybug"  # the packaged wheels


def test_the_worker_backs_up_to_the_nas(hosts: dict[str, dict[str, Any]], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("HYDRA_"):
            monkeypatch.delenv(k)
    r = hosts["compute-node"]
    path = tmp_path / "config.toml"
    path.write_text(r["configToml"])
    s = load_settings(path)
    assert s.backup.destination == Path("/mnt/nas/hydra-backups") and s.backup.keep_weekly == 8
    # ProtectSystem=strict: the destination is the one path outside the StateDirectory it may write
    assert r["units"]["hydra-os"]["serviceConfig"]["ReadWritePaths"] == ["/mnt/nas/hydra-backups"]
    assert "ReadWritePaths" not in hosts["storage-node"]["units"]["hydra-os"]["serviceConfig"]
