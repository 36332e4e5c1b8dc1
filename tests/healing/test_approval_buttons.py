"""An escalation that waits for approval carries the web page's single-use Approve/Deny links."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.policy.approval_links import ApprovalLinks, Verb
from hydra_os.sections.healing import HealingConfig
from tests.healing.conftest import SYSTEMCTL, make_gate, set_unit


async def test_pending_escalation_has_approve_and_deny_links(tmp_path: Path, systemd: Path, bus: Bus,
                                                             make_healer: Any) -> None:
    now = [1000.0]
    gate = await make_gate(bus, clock=lambda: now[0], max_attempts=1, backoff_base=1.0)
    set_unit(systemd, "db.service", ActiveState="failed", SubState="failed", Result="exit-code", restart_fails=True)
    healer = make_healer(gate, HealingConfig(units=["db.service"], systemctl=SYSTEMCTL), clock=lambda: now[0])
    links = ApprovalLinks.open(tmp_path)
    healer.approval_buttons = lambda aid: links.buttons("https://hydra.example.net", aid, 4_000_000_000.0)
    healer.register()
    for _ in range(4):
        [inc] = await healer.run_once()
        now[0] += 5
    [note] = [json.loads(x) for x in (tmp_path / "notes.log").read_text().splitlines()]
    aid = note["data"]["approval_id"]
    assert inc.escalated and aid
    approve, deny = note["actions"]
    assert (approve["label"], deny["label"]) == ("Approve", "Deny")
    for button, verb in ((approve, Verb.APPROVE), (deny, Verb.DENY)):
        assert button["url"].startswith("https://hydra.example.net/ui/link/") and button["kind"] == "http"
        claim = links.read(button["url"].rsplit("/", 1)[1])
        assert (claim.approval_id, claim.verb) == (aid, verb)
