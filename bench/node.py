"""Node supervisor numbers (issue: node supervisor on NATS).

- `hydra run` to ready (API /readyz 200 and the node registered in hydra_nodes), embedded NATS.
- Idle daemon RSS (without the nats-server child) and the child's RSS.
- Failure detection: kill -9 of one of three daemons to gone in every peer's view; rejoin time.

Each figure is the median of N runs (default 5). Prints a table and writes bench/results/node.json.
Run: .venv/bin/python bench/node.py [--runs 5]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import DaemonProc, NatsProc, daemon_env, free_port, wait_for


def startup_and_rss(runs: int, root: Path, roles: str | None = None) -> dict[str, object]:
    to_ready, rss, child_rss = [], [], []
    extra = {"HYDRA_NODE__ROLES": roles} if roles else {}
    for i in range(runs):
        d = DaemonProc(f"b{i}", root / f"start{i}-{roles or 'all'}", daemon_env(HYDRA_LOG__LEVEL="WARNING", **extra))
        t0 = time.perf_counter()
        d.start(wait_ready=False)

        def ready(d: DaemonProc = d) -> bool:
            try:
                rt = json.loads((d.state_dir / "runtime.json").read_text())
                return httpx.get(rt["api_url"] + "/readyz", timeout=0.5).status_code == 200
            except Exception:
                return False

        wait_for(ready, 30, interval=0.005, what="ready")
        to_ready.append(time.perf_counter() - t0)
        time.sleep(5)  # idle
        assert d.proc is not None
        p = psutil.Process(d.proc.pid)
        rss.append(p.memory_info().rss / 2**20)
        child_rss.append(sum(c.memory_info().rss for c in p.children()) / 2**20)
        d.stop()
    return {
        "run_to_ready_s_median": round(statistics.median(to_ready), 3),
        "run_to_ready_s_all": [round(x, 3) for x in to_ready],
        "idle_rss_mb_median": round(statistics.median(rss), 1),
        "nats_child_rss_mb_median": round(statistics.median(child_rss), 1),
    }


def detection(runs: int, root: Path) -> dict[str, object]:
    nats = NatsProc("bench", free_port(), root / "nats").start()
    ds = [DaemonProc(f"d{i}", root / f"d{i}", daemon_env(HYDRA_BUS__URL=nats.url, HYDRA_LOG__LEVEL="WARNING"))
          for i in range(3)]
    detect, rejoin = [], []
    try:
        for d in ds:
            d.start()
        everyone = ["d0", "d1", "d2"]
        for d in ds:
            wait_for(lambda d=d: d.nodes() == everyone, 10)
        clients = [d.client() for d in ds]

        def view(i: int) -> list[str]:
            return sorted(n["id"] for n in clients[i].get("/v1/nodes").json())

        for _ in range(runs):
            victim = ds[2]
            victim.kill9()
            t0 = time.perf_counter()
            wait_for(lambda: all(view(i) == ["d0", "d1"] for i in (0, 1)), 15, interval=0.01)
            detect.append(time.perf_counter() - t0)
            victim.start(wait_ready=False)
            t1 = time.perf_counter()
            victim.wait_ready(30)
            clients[2] = victim.client()
            wait_for(lambda: all(view(i) == everyone for i in (0, 1, 2)), 15, interval=0.01)
            rejoin.append(time.perf_counter() - t1)
    finally:
        for d in ds:
            d.stop()
        nats.stop()
    return {
        "kill9_to_gone_everywhere_s_median": round(statistics.median(detect), 3),
        "kill9_to_gone_s_all": [round(x, 3) for x in detect],
        "restart_to_rejoined_everywhere_s_median": round(statistics.median(rejoin), 3),
        "rejoin_s_all": [round(x, 3) for x in rejoin],
        "note": "rejoin is measured from process start (includes interpreter start-up) to every view listing it",
    }


def precompile() -> None:
    """Bytecode as an installed package has it (pip and Nix compile at install time). This dev tree is
    an editable install, and a PYTHONDONTWRITEBYTECODE=1 environment would otherwise make every
    start-up recompile all of Hydra's sources."""
    root = Path(__file__).resolve().parent.parent
    for pkg in ("hydra_os", "memory", "pipelines"):
        compileall.compile_dir(str(root / pkg), quiet=1)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    precompile()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result = {"runs": args.runs, "roles": "all (default)", **startup_and_rss(args.runs, root)}
        # the same without the memory role (no embedded Qdrant/Ladybug in the process) and without the gpu role
        other = startup_and_rss(args.runs, root, roles="gateway,worker,scheduler")
        result["without_memory_role"] = {"roles": "gateway,worker,scheduler", **other}
        result.update(detection(args.runs, root))
    result["targets"] = {"run_to_ready_s": 1.5, "idle_rss_mb": 120, "kill9_to_gone_s": 3.0, "rejoin_s": 2.0}
    out = Path(__file__).parent / "results" / "node.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result.items():
        if not k.endswith("_all"):
            print(f"{k:45} {v}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
