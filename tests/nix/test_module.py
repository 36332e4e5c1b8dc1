"""modules/hydra-os.nix evaluated through the stand-in: the generated unit, config and firewall.

The generated config.toml is parsed with tomllib and validated with hydra_os.config.load_settings,
so the module's keys and defaults cannot drift from the Python config.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hydra_os.config import ApiConfig, Settings, load_settings
from hydra_os.errors import ConfigError
from tests.nix.nixeval import ENABLE, NixError, eval_host, requires_nix

pytestmark = requires_nix


@pytest.fixture(autouse=True)
def _no_hydra_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for k in list(os.environ):
        if k.startswith("HYDRA_"):
            monkeypatch.delenv(k)


def validated(result: dict[str, Any], tmp_path: Path) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(result["configToml"])
    return load_settings(path)


def service(result: dict[str, Any]) -> dict[str, Any]:
    unit: dict[str, Any] = result["units"]["hydra-os"]
    return unit


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    return eval_host(ENABLE)


@pytest.fixture(scope="module")
def worker() -> dict[str, Any]:
    return eval_host(ENABLE, '{ services.hydra-os.roles = [ "worker" ]; }')


def test_disabled_module_adds_nothing() -> None:
    r = eval_host()
    assert r["enabled"] is False
    assert "hydra-os" not in r["units"]
    assert r["etc"] == {} and r["firewall"]["allowedTCPPorts"] == [] and r["systemPackages"] == []


def test_unit_is_a_notify_service_running_the_package(default: dict[str, Any]) -> None:
    s = service(default)
    sc = s["serviceConfig"]
    pkg = next(p for p in default["systemPackages"] if p.startswith("hydra-os"))
    assert pkg == "hydra-os-0.1.0"
    assert sc["ExecStart"].endswith("-hydra-os-0.1.0/bin/hydra run") and sc["ExecStart"].startswith("/nix/store/")
    assert sc["Type"] == "notify" and sc["NotifyAccess"] == "main"
    assert sc["WatchdogSec"] == "30s" and sc["Restart"] == "on-failure"
    assert s["wantedBy"] == ["multi-user.target"]
    assert s["environment"]["HYDRA_CONFIG"] == "/etc/hydra-os/config.toml"
    assert "EnvironmentFile" not in sc and "LoadCredential" not in sc
    # the unit restarts when the config changes
    assert s["restartTriggers"] == [default["etc"]["hydra-os/config.toml"]["source"]]


def test_unit_is_hardened(worker: dict[str, Any]) -> None:
    sc = service(worker)["serviceConfig"]
    expected = {
        "DynamicUser": True, "StateDirectory": "hydra-os", "StateDirectoryMode": "0700",
        "ProtectSystem": "strict", "ProtectHome": True, "PrivateTmp": True, "PrivateDevices": True,
        "PrivateMounts": True, "PrivateUsers": True, "NoNewPrivileges": True, "LockPersonality": True,
        "MemoryDenyWriteExecute": True, "RestrictNamespaces": True, "RestrictSUIDSGID": True,
        "RestrictRealtime": True, "ProtectKernelTunables": True, "ProtectKernelModules": True,
        "ProtectKernelLogs": True, "ProtectControlGroups": True, "ProtectClock": True,
        "ProtectHostname": True, "DevicePolicy": "closed", "UMask": "0077",
        "CapabilityBoundingSet": [""], "AmbientCapabilities": [""],
        "RestrictAddressFamilies": ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"],
        "SystemCallFilter": ["@system-service", "~@privileged"], "SystemCallArchitectures": "native",
    }
    assert {k: sc.get(k) for k in expected} == expected
    assert "DeviceAllow" not in sc


def test_gpu_role_relaxes_devices_and_wx_only(default: dict[str, Any], worker: dict[str, Any]) -> None:
    gpu = service(eval_host(ENABLE, '{ services.hydra-os.roles = [ "gpu" ]; }'))["serviceConfig"]
    plain = service(worker)["serviceConfig"]
    assert gpu["PrivateDevices"] is False and gpu["MemoryDenyWriteExecute"] is False
    assert gpu["DevicePolicy"] == "closed"
    assert {"char-nvidiactl", "char-nvidia-uvm", "char-nvidia-frontend"} <= set(gpu["DeviceAllow"])
    relaxed = {k for k in set(gpu) | set(plain) if gpu.get(k) != plain.get(k)}
    assert relaxed == {"PrivateDevices", "MemoryDenyWriteExecute", "DeviceAllow"}
    # the default roles are all of them, gpu included
    assert service(default)["serviceConfig"]["PrivateDevices"] is False


def test_rendered_unit_text(worker: dict[str, Any]) -> None:
    text = service(worker)["text"]
    lines = text.splitlines()
    assert "[Service]" in lines and "Type=notify" in lines and "WatchdogSec=30s" in lines
    assert 'Environment="HYDRA_CONFIG=/etc/hydra-os/config.toml"' in lines
    assert "CapabilityBoundingSet=" in lines
    assert [ln for ln in lines if ln.startswith("RestrictAddressFamilies=")] == [
        "RestrictAddressFamilies=AF_UNIX", "RestrictAddressFamilies=AF_INET",
        "RestrictAddressFamilies=AF_INET6", "RestrictAddressFamilies=AF_NETLINK"]


def _unit_path(r: dict[str, Any]) -> list[str]:
    line = next(ln for ln in service(r)["text"].splitlines() if ln.startswith('Environment="PATH='))
    return line.removeprefix('Environment="PATH=').removesuffix('"').split(":")


def test_espeak_ng_is_on_the_daemons_path_while_the_creative_studio_is_on(default: dict[str, Any]) -> None:
    """The studio's default voice engine runs `espeak-ng` from PATH (creative.espeak_path)."""
    assert any(p.endswith("-espeak-ng-1.51.1/bin") for p in _unit_path(default))
    off = eval_host(ENABLE, "{ services.hydra-os.settings.creative.enabled = false; }")
    assert not any("espeak-ng" in p for p in _unit_path(off))


def test_default_config_validates_and_matches_python_defaults(default: dict[str, Any], tmp_path: Path) -> None:
    data = tomllib.loads(default["configToml"])
    assert data["api"] == {"host": ApiConfig().host, "port": ApiConfig().port}
    assert data["node"] == {"id": "nixos", "roles": ["gateway", "gpu", "memory", "scheduler", "worker"],
                            "state_dir": "/var/lib/hydra-os"}
    assert "url" not in data["bus"]  # no NATS configured: the daemon runs the embedded one
    s = validated(default, tmp_path)
    assert s.node.id == "nixos" and s.api.port == 8700 and s.bus.url is None
    assert str(s.node.state_dir) == "/var/lib/hydra-os"
    assert default["etc"]["hydra-os/config.toml"]["mode"] == "symlink"


def test_every_typed_key_is_a_real_setting(tmp_path: Path) -> None:
    r = eval_host(ENABLE, """{ services.hydra-os.roles = [ "memory" "worker" ]; services.hydra-os.settings = {
        node = { id = "n-1"; state_dir = "/var/lib/hydra-os/data"; };
        api = { host = "0.0.0.0"; port = 8800; token_file = "/run/credentials/hydra-os.service/api-token";
                advertise_url = "http://n-1:8800"; };
        bus = { url = [ "nats://10.0.0.1:4222" "nats://10.0.0.2:4222" ];
                server_binary = "/nix/store/x-nats-server/bin/nats-server";
                token_file = "/run/secrets/nats-token"; creds_file = "/run/secrets/hydra.creds"; };
        log.level = "DEBUG";
      }; }""")
    s = validated(r, tmp_path)
    assert s.node.roles == ["memory", "worker"] and s.api.port == 8800 and s.api.host == "0.0.0.0"
    assert s.bus.url == ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]
    assert str(s.api.token_file) == "/run/credentials/hydra-os.service/api-token"
    assert str(s.bus.creds_file) == "/run/secrets/hydra.creds" and s.log.level == "DEBUG"
    assert s.api.advertise_url == "http://n-1:8800"


def test_freeform_keys_pass_through_and_the_daemon_still_catches_typos(tmp_path: Path) -> None:
    r = eval_host(ENABLE, """{ services.hydra-os.settings = {
        owner = { timezone = "Europe/Berlin"; wake_time = "06:30"; };
        membership.gone_after = 5.0;
        bus.connect_timeout = 3;
      }; }""")
    s = validated(r, tmp_path)
    assert s.owner.timezone == "Europe/Berlin" and s.owner.wake_time == "06:30"
    assert s.membership.gone_after == 5.0 and s.bus.connect_timeout == 3
    typo = eval_host(ENABLE, "{ services.hydra-os.settings.api.prot = 1; }")
    with pytest.raises(ConfigError, match=r"api\.prot: unknown setting"):
        validated(typo, tmp_path)


def test_roles_are_set_in_one_place_and_feed_settings() -> None:
    r = eval_host(ENABLE, '{ services.hydra-os.roles = [ "memory" ]; }')
    assert tomllib.loads(r["configToml"])["node"]["roles"] == ["memory"]
    # the TOML key is written from services.hydra-os.roles; setting it too is refused, naming the option
    with pytest.raises(NixError, match=r"roles are set in one place, services\.hydra-os\.roles"):
        eval_host(ENABLE, '{ services.hydra-os.roles = [ "memory" ]; }',
                  '{ services.hydra-os.settings.node.roles = [ "worker" ]; }')
    same = eval_host(ENABLE, '{ services.hydra-os.roles = [ "memory" ]; }',
                     '{ services.hydra-os.settings.node.roles = [ "memory" ]; }')  # agreeing is harmless
    assert tomllib.loads(same["configToml"])["node"]["roles"] == ["memory"]


def test_exec_start_is_the_packages_main_program() -> None:
    """lib.getExe: the unit runs what the package declares as meta.mainProgram (a bare path: bin/hydra)."""
    r = eval_host(ENABLE, """{ pkgs, ... }: { services.hydra-os.package =
        pkgs.fakeDrv { name = "hydra-os-9"; pname = "hydra-os"; mainProgram = "hydra-node"; }; }""")
    assert re.fullmatch(r"/nix/store/[a-z0-9]+-hydra-os-9/bin/hydra-node run", service(r)["serviceConfig"]["ExecStart"])


def test_node_id_defaults_to_the_host_name() -> None:
    r = eval_host(ENABLE, '{ networking.hostName = "box7"; }')
    assert tomllib.loads(r["configToml"])["node"]["id"] == "box7"


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ('{ services.hydra-os.settings.api.port = 70000; }',
         "option `services.hydra-os.settings.api.port' is not of type `16 bit unsigned integer"),
        ('{ services.hydra-os.settings.api.port = "8700"; }', "services.hydra-os.settings.api.port"),
        ('{ services.hydra-os.roles = [ "gpus" ]; }', "option `services.hydra-os.roles.[definition 1-entry 1]'"),
        ('{ services.hydra-os.settings.node.id = "bad id"; }', "settings.node.id = \"bad id\": expected 1-64"),
        ('{ services.hydra-os.roles = [ ]; }', "roles is empty"),
        ('{ services.hydra-os.settings.node.state_dir = "/srv/hydra"; }',
         "expected /var/lib/hydra-os or a directory below it"),
        ('{ services.hydra-os.openFirewal = true; }', "The option `services.hydra-os.openFirewal' does not exist"),
        ('{ services.hydra-os.settings.log.level = "LOUD"; }', "services.hydra-os.settings.log.level"),
    ],
)
def test_bad_input_fails_evaluation_naming_the_option(module: str, message: str) -> None:
    with pytest.raises(NixError) as err:
        eval_host(ENABLE, module)
    assert message in str(err.value)


def test_environment_file_and_credentials() -> None:
    r = eval_host(ENABLE, """{ services.hydra-os.environmentFile = "/run/secrets/hydra.env";
        services.hydra-os.credentials = { api-token = "/run/secrets/api"; nats = "/run/secrets/nats"; }; }""")
    sc = service(r)["serviceConfig"]
    assert sc["EnvironmentFile"] == "/run/secrets/hydra.env"
    assert sorted(sc["LoadCredential"]) == ["api-token:/run/secrets/api", "nats:/run/secrets/nats"]
    assert "secrets" not in r["configToml"]


def test_firewall_opens_the_api_port_only_when_asked() -> None:
    assert eval_host(ENABLE)["firewall"]["allowedTCPPorts"] == []
    r = eval_host(ENABLE, "{ services.hydra-os.openFirewall = true; }",
                  '{ services.hydra-os.settings.api = { host = "0.0.0.0"; port = 9000; }; }')
    assert r["firewall"]["allowedTCPPorts"] == [9000] and r["warnings"] == []
    loopback = eval_host(ENABLE, "{ services.hydra-os.openFirewall = true; }")
    assert loopback["firewall"]["allowedTCPPorts"] == [8700]
    assert any("settings.api.host is 127.0.0.1" in w for w in loopback["warnings"])


def test_clustered_nats_wiring() -> None:
    r = eval_host(ENABLE, """{ networking.hostName = "n1"; services.hydra-os.nats = {
        enable = true; routes = [ "nats-route://n1:6222" "nats-route://n2:6222" ]; openFirewall = true; }; }""")
    assert r["nats"]["enable"] and r["nats"]["jetstream"] and r["nats"]["serverName"] == "n1"
    assert r["nats"]["settings"]["cluster"] == {
        "name": "hydra", "listen": "0.0.0.0:6222", "routes": ["nats-route://n1:6222", "nats-route://n2:6222"]}
    assert r["nats"]["settings"]["host"] == "127.0.0.1"  # clients stay on loopback
    assert tomllib.loads(r["configToml"])["bus"]["url"] == ["nats://127.0.0.1:4222"]
    s = service(r)
    assert "nats.service" in s["after"] and "nats.service" in s["wants"]
    assert r["firewall"]["allowedTCPPorts"] == [6222]
    # the bus URL is only a default: an explicit one wins, so does an explicit server name
    r = eval_host(ENABLE, """{ services.hydra-os.nats.enable = true; services.nats.serverName = "own";
        services.hydra-os.settings.bus.url = [ "nats://10.9.9.9:4222" ]; }""")
    assert tomllib.loads(r["configToml"])["bus"]["url"] == ["nats://10.9.9.9:4222"]
    assert r["nats"]["serverName"] == "own"


def test_manage_units_adds_a_narrow_polkit_rule() -> None:
    assert "var units" not in eval_host(ENABLE)["polkit"]["extraConfig"]
    r = eval_host(ENABLE, '{ services.hydra-os.manageUnits = [ "ollama.service" "nats.service" ]; }')
    rule = r["polkit"]["extraConfig"]
    assert r["polkit"]["enable"] is True
    assert '["ollama.service","nats.service"]' in rule
    assert 'subject.user == "hydra-os"' in rule and "org.freedesktop.systemd1.manage-units" in rule


def test_one_unit_list_is_both_the_polkit_grant_and_the_watch_list(tmp_path: Path) -> None:
    r = eval_host(ENABLE, '{ services.hydra-os.manageUnits = [ "ollama.service" "nats.service" ]; }')
    assert validated(r, tmp_path).healing.units == ["ollama.service", "nats.service"]
    # the module-run NATS server is managed (and so watched) without listing it
    r = eval_host(ENABLE, "{ services.hydra-os.nats.enable = true; }")
    assert '["nats.service"]' in r["polkit"]["extraConfig"]
    assert validated(r, tmp_path).healing.units == ["nats.service"]
    # the watch list can still be set on its own; the grant stays the managed list
    r = eval_host(ENABLE, """{ services.hydra-os.manageUnits = [ "a.service" ];
        services.hydra-os.settings.healing = { units = [ "b.service" ]; interval_s = 5; }; }""")
    s = validated(r, tmp_path)
    assert s.healing.units == ["b.service"] and s.healing.interval_s == 5
    assert '["a.service"]' in r["polkit"]["extraConfig"]


def test_privileged_helper_unit_and_its_polkit_rule(default: dict[str, Any], tmp_path: Path) -> None:
    import re

    unit = default["units"]["hydra-os-nixos@"]
    sc = unit["serviceConfig"]
    assert sc["Type"] == "oneshot"
    assert re.fullmatch(r"/nix/store/[a-z0-9]+-hydra-os-0\.1\.0/bin/hydra-nixos-helper %i", sc["ExecStart"])
    assert unit["wantedBy"] == []  # runs only when the daemon asks
    assert unit["environment"]["HYDRA_CONFIG"] == "/etc/hydra-os/config.toml"
    assert unit["environment"]["HYDRA_NIXOS_RESULT_DIR"] == "/run/" + sc["RuntimeDirectory"]
    assert sc["RuntimeDirectoryPreserve"] is True and "User" not in sc and "DynamicUser" not in sc  # root
    # the daemon itself stays unprivileged and is told to use the helper
    main = service(default)["serviceConfig"]
    assert main["DynamicUser"] is True and main["ProtectSystem"] == "strict" and main["CapabilityBoundingSet"] == [""]
    assert validated(default, tmp_path).healing.nixos.helper_unit is True
    rule = default["polkit"]["extraConfig"]
    assert default["polkit"]["enable"] is True
    m = re.search(r"/(\^hydra-os-nixos@.*?\$)/\.test\(action\.lookup\(\"unit\"\)\)", rule)
    assert m is not None, rule
    assert 'action.lookup("verb") == "start"' in rule and 'subject.user == "hydra-os"' in rule
    # the rule's pattern (JavaScript, compatible with Python's re here) names exactly that unit and the verbs
    pattern = re.compile(m.group(1))
    for ok in ("hydra-os-nixos@rollback-42.service", "hydra-os-nixos@switch-1.service",
               "hydra-os-nixos@boot-7.service", "hydra-os-nixos@test-123456789.service"):
        assert pattern.match(ok), ok
    for bad in ("hydra-os-nixos@gc-1.service", "hydra-os-nixos@rollback-.service", "hydra-os.service",
                "hydra-os-nixos@rollback-1.service.d", "xhydra-os-nixos@rollback-1.service",
                "hydra-os-nixos@rollback-1xservice", "hydra-os-nixos@rollback-1234567890.service",
                "nats.service", "hydra-os-nixos@rollback-1;x.service"):
        assert not pattern.match(bad), bad


def test_engines_get_home_and_cache_under_the_units_directories(worker: dict[str, Any]) -> None:
    s = service(worker)
    assert s["serviceConfig"]["CacheDirectory"] == "hydra-os" and s["serviceConfig"]["StateDirectory"] == "hydra-os"
    env = s["environment"]
    assert env["HOME"] == "/var/lib/hydra-os/home" and env["XDG_CACHE_HOME"] == "/var/cache/hydra-os"
    assert env["HF_HOME"].startswith("/var/cache/hydra-os/")


def test_unit_settings_can_be_overridden_with_mkForce_only() -> None:
    r = eval_host(ENABLE, '{ lib, ... }: { systemd.services.hydra-os.serviceConfig.WatchdogSec = lib.mkForce "60s"; }')
    assert service(r)["serviceConfig"]["WatchdogSec"] == "60s"
    with pytest.raises(NixError, match=r"serviceConfig\.WatchdogSec' has conflicting definition values"):
        eval_host(ENABLE, '{ systemd.services.hydra-os.serviceConfig.WatchdogSec = "60s"; }')


def test_flake_wrapper_supplies_the_package_and_an_explicit_one_wins() -> None:
    r = eval_host(ENABLE, flake_wrapper=True)
    assert "hydra-os-from-flake-0.1.0/bin/hydra run" in service(r)["serviceConfig"]["ExecStart"]
    r = eval_host(ENABLE, '{ services.hydra-os.package = "/nix/store/0000-my-hydra"; }', flake_wrapper=True)
    assert service(r)["serviceConfig"]["ExecStart"] == "/nix/store/0000-my-hydra/bin/hydra run"


def test_bus_credentials_file_is_a_systemd_credential(tmp_path: Path) -> None:
    r = eval_host(ENABLE, """{ services.hydra-os.busCredentialsFile = "/run/secrets/hydra-bus";
        services.hydra-os.settings.bus.url = [ "tls://nats.lan:4222" ];
        services.hydra-os.settings.bus.tls_ca_file = "/etc/ssl/nats-ca.pem"; }""")
    assert service(r)["serviceConfig"]["LoadCredential"] == ["bus:/run/secrets/hydra-bus"]
    assert "secrets" not in r["configToml"]  # the path of the secret only reaches systemd
    s = validated(r, tmp_path)
    assert str(s.bus.credentials_file) == "/run/credentials/hydra-os.service/bus"
    assert str(s.bus.tls_ca_file) == "/etc/ssl/nats-ca.pem"


def test_memory_server_backends_use_nixpkgs_services(tmp_path: Path) -> None:
    r = eval_host(ENABLE, '{ services.hydra-os.memory.archival = "qdrant"; }')
    s = validated(r, tmp_path)
    assert s.memory.archival.backend == "qdrant" and s.memory.archival.url == "http://127.0.0.1:6333"
    assert s.memory.graph.backend == "ladybug"
    assert s.healing.units == ["qdrant.service"] and '["qdrant.service"]' in r["polkit"]["extraConfig"]
    assert "qdrant.service" in service(r)["after"]
    with pytest.raises(NixError, match=r"needs services\.hydra-os\.memory\.neo4jPasswordFile"):
        eval_host(ENABLE, '{ services.hydra-os.memory.graph = "neo4j"; }')
    r = eval_host(ENABLE, """{ services.hydra-os = { memory.graph = "neo4j";
        memory.neo4jPasswordFile = "/run/secrets/neo4j"; nats.enable = true;
        manageUnits = [ "nats.service" "ollama.service" ]; }; }""")
    s = validated(r, tmp_path)
    assert s.memory.graph.backend == "neo4j" and s.memory.graph.url == "neo4j://127.0.0.1:7687"
    assert str(s.memory.graph.password_file) == "/run/credentials/hydra-os.service/neo4j-password"
    assert "neo4j-password:/run/secrets/neo4j" in service(r)["serviceConfig"]["LoadCredential"]
    # one merged list, each unit once: the owner's, the module's NATS server and the graph server
    assert sorted(s.healing.units) == ["nats.service", "neo4j.service", "ollama.service"]
    # an explicit URL wins over the module's default
    r = eval_host(ENABLE, """{ services.hydra-os.memory.archival = "qdrant";
        services.hydra-os.settings.memory.archival.url = "http://10.0.0.5:6333"; }""")
    assert validated(r, tmp_path).memory.archival.url == "http://10.0.0.5:6333"


def test_systemd_stop_timeout_follows_the_daemons_own_shutdown_bound(default: dict[str, Any]) -> None:
    """The daemon exits once node.stop_timeout is spent; systemd's SIGKILL must come after that, not
    before (a raised stop_timeout under a fixed 30 s TimeoutStopSec was killed mid-shutdown)."""
    assert service(default)["serviceConfig"]["TimeoutStopSec"] == "30s"  # the 20 s default + 10 s
    r = eval_host(ENABLE, "{ services.hydra-os.settings.node.stop_timeout = 45; }")
    assert service(r)["serviceConfig"]["TimeoutStopSec"] == "55s"
    r = eval_host(ENABLE, "{ services.hydra-os.settings.node.stop_timeout = 20.5; }")
    assert service(r)["serviceConfig"]["TimeoutStopSec"] == "31s"
