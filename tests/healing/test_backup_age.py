"""A failed or missed backup is a healing incident (check ``backup_age``), through the real healer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from hydra_os.backup.status import STATUS_FILE, record_attempt
from hydra_os.healing.healer import Healer
from hydra_os.policy.gate import PolicyGate
from hydra_os.sections.healing import HealingConfig


async def test_failed_then_missed_then_fresh(gate: PolicyGate, make_healer: Callable[..., Healer],
                                             tmp_path: Path) -> None:
    healer = make_healer(gate, HealingConfig())
    assert not await healer.run_once({"backup_age"})  # no record yet: this node never backed up
    record_attempt(tmp_path, ok=False, max_age=3600, error="backup destination /nas is not writable")
    (inc,) = await healer.run_once({"backup_age"})
    assert inc.root == "backup:n1" and "not writable" in inc.summary
    record_attempt(tmp_path, ok=True, max_age=3600, name="hydra-backup-n1-x.tar.zst", size=10)
    assert not [i for i in await healer.run_once({"backup_age"}) if i.status == "open"]
    # a record whose last success is older than max_age: the nightly backup stopped running
    path = tmp_path / STATUS_FILE
    data = json.loads(path.read_text())
    data["last_ok_at"] = time.time() - 2 * 3600
    path.write_text(json.dumps(data))
    (inc,) = [i for i in await healer.run_once({"backup_age"}) if i.status == "open"]
    assert "no backup for 2.0 h" in inc.summary
