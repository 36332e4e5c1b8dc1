from __future__ import annotations

import pkgutil

from hydra_os.healing import checks, fixups
from hydra_os.healing.registry import discover_checks, discover_fixups


def test_every_module_is_discovered() -> None:
    check_mods = {m.name for m in pkgutil.iter_modules(checks.__path__)}
    fixup_mods = {m.name for m in pkgutil.iter_modules(fixups.__path__)}
    assert {c.name for c in discover_checks()} == check_mods
    assert {f.name for f in discover_fixups()} == fixup_mods
    assert {"systemd_unit", "http_endpoint", "model_endpoint", "disk_space", "gpu_health",
            "bus_reachable", "child_process"} <= check_mods
    assert {"restart_unit", "restart_process", "free_disk", "nixos_rollback"} <= fixup_mods
    assert discover_fixups()[-1].name == "nixos_rollback"  # the last resort comes last
