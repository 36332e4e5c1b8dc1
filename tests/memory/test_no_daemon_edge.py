"""The memory package does not depend on the daemon: importing it loads no component, wiring or daemon
module (memory/wiring.py used to import hydra_os.component.NodeContext; the wiring now hands it the
config, the bus and the API's auth dependency)."""

from __future__ import annotations

import json
import subprocess
import sys

DAEMON_SIDE = ("hydra_os.component", "hydra_os.wiring", "hydra_os.daemon")


def test_importing_memory_loads_nothing_of_the_daemon() -> None:
    code = (
        "import json, sys\n"
        "import memory.wiring, memory.service, memory.archiver, memory.archival.maintenance\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m in {DAEMON_SIDE!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
