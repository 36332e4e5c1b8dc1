"""Healing fixtures: a real PolicyGate on a real nats-server, a stand-in systemctl, a healer factory."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hydra_os.bus.client import Bus
from hydra_os.events import EventLog
from hydra_os.healing.context import HealingContext
from hydra_os.healing.healer import Healer
from hydra_os.healing.incidents import IncidentStore
from hydra_os.healing.registry import discover_checks, discover_fixups
from hydra_os.healing.supervisor import ProcessSupervisor
from hydra_os.notify import LogFileNotifier
from hydra_os.policy.approvals import ApprovalStore
from hydra_os.policy.engine import PolicyEngine
from hydra_os.policy.gate import PolicyGate
from hydra_os.policy.guards.maintenance import MaintenanceSchedule
from hydra_os.policy.loader import default_policy
from hydra_os.policy.receipts import Receipts
from hydra_os.sections.healing import HealingConfig
from hydra_os.sections.policy import PolicyConfig

STANDINS = Path(__file__).resolve().parent.parent / "standins"
SYSTEMCTL = str(STANDINS / "systemctl")


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in systemctl's state dir (units/<unit>.json); returns it."""
    d = tmp_path / "systemd"
    (d / "units").mkdir(parents=True)
    monkeypatch.setenv("SYSTEMCTL_STANDIN_DIR", str(d))
    return d


def set_unit(systemd: Path, unit: str, **state: Any) -> None:
    import json

    base = {"ActiveState": "active", "SubState": "running", "Result": "success", "NRestarts": 0}
    base.update(state)
    (systemd / "units" / f"{unit}.json").write_text(json.dumps(base))


def unit_state(systemd: Path, unit: str) -> dict[str, Any]:
    import json

    return dict(json.loads((systemd / "units" / f"{unit}.json").read_text()))


async def make_gate(bus: Bus, node: str = "n1", clock: Callable[[], float] | None = None,
                    **policy: Any) -> PolicyGate:
    events = EventLog(bus, node)
    await events.start()
    cfg = PolicyConfig(**policy)
    kw = {"clock": clock} if clock else {}
    gate = PolicyGate(node, PolicyEngine(default_policy()), Receipts(events), cfg,
                      MaintenanceSchedule(cfg.maintenance, **kw), **kw)
    gate.approvals = await ApprovalStore.open(bus, **kw)
    return gate


@pytest.fixture
async def gate(bus: Bus) -> PolicyGate:
    return await make_gate(bus)


@pytest.fixture
def make_healer(tmp_path: Path) -> Callable[..., Healer]:
    def make(gate: PolicyGate, config: HealingConfig, *, supervisor: ProcessSupervisor | None = None,
             bus: Bus | None = None, clock: Callable[[], float] | None = None) -> Healer:
        context = HealingContext(config=config, node_id="n1", state_dir=tmp_path, bus=bus, supervisor=supervisor)
        kw = {"clock": clock} if clock else {}
        return Healer(context, gate, IncidentStore(tmp_path / "incidents.json"),
                      LogFileNotifier(tmp_path / "notes.log"), discover_checks(), discover_fixups(), **kw)

    return make


@pytest.fixture
def child_script(tmp_path: Path) -> Callable[..., list[str]]:
    """argv of a real child: an HTTP health server on PORT that optionally exits after N seconds."""
    import sys

    def make(port: int, die_after: float | None = None) -> list[str]:
        code = (
            "import http.server,sys,threading,os,time\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def log_message(self,*a): pass\n"
            "    def do_GET(self):\n"
            "        self.send_response(200); self.send_header('Content-Length','2'); self.end_headers();"
            " self.wfile.write(b'ok')\n"
            f"s=http.server.ThreadingHTTPServer(('127.0.0.1',{port}),H)\n"
            "s.allow_reuse_address=True\n"
            f"d={die_after!r}\n"
            "if d: threading.Timer(d, lambda: os._exit(3)).start()\n"
            "s.serve_forever()\n"
        )
        return [sys.executable, "-c", code]

    _ = os
    return make
