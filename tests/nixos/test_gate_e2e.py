"""`hydra nixos switch` with Hydra's checks in its health gate: a real daemon on the node, the stand-in
nix tools and systemctl. A configuration whose service starts and then crashes passes
switch-to-configuration (exit 0) but fails the gate through the daemon's own unit check, and is rolled back.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.healing.conftest import SYSTEMCTL, set_unit
from tests.helpers import REPO, DaemonProc, daemon_env
from tests.standins.nixsim import NixSim

pytestmark = pytest.mark.e2e


def test_switch_gate_includes_the_daemons_checks(nixsim: NixSim, tmp_path: Path) -> None:
    cfg = nixsim.config()
    (nixsim.systemctl_dir / "units").mkdir(parents=True, exist_ok=True)
    set_unit(nixsim.systemctl_dir, "webapp.service")
    conf = tmp_path / "config.toml"
    conf.write_text(
        '[node]\nroles = ["gateway"]\n'
        f'[healing]\ninterval_s = 3600\nunits = ["webapp.service"]\nsystemctl = {json.dumps(SYSTEMCTL)}\n'
        "[healing.nixos]\n" + "".join(f"{k} = {json.dumps(str(getattr(cfg, k)))}\n" for k in (
            "profile", "current_system", "booted_system", "nix_env", "nixos_rebuild", "flake"))
        + "gate_settle_s = 0\n"
    )
    state = tmp_path / "state"
    env = daemon_env(HYDRA_CONFIG=str(conf))
    d = DaemonProc("gw1", state, env).start()
    cli_env = {**env, "HYDRA_NODE__STATE_DIR": str(state), "HYDRA_NODE__ID": "gw1"}

    def switch() -> tuple[int, dict[str, object]]:
        p = subprocess.run([sys.executable, "-m", "hydra_os", "nixos", "switch", "--json"], env=cli_env, cwd=REPO,
                           capture_output=True, text=True, timeout=300)
        assert p.stdout.strip(), p.stderr
        return p.returncode, json.loads(p.stdout[p.stdout.index("{"):])

    try:
        booted = nixsim.current()
        nixsim.describe("rev-crash", crashing_units=["webapp.service"])
        code, out = switch()
        assert code == 1 and out["status"] == "rolled_back", json.dumps(out)
        assert any("unit:webapp.service fails after the switch" in p for p in out["problems"]), out["problems"]
        assert nixsim.current() == booted  # the previous system runs again
        nixsim.describe("rev-ok")
        code, out = switch()
        assert code == 0 and out["status"] == "switched", out
    finally:
        assert d.stop() == 0, d.logs()
