"""The gateway's per-request Python work before and after issue 12's split into named phases, one run.

Times, in-process and with no I/O, the two pure steps every ``hydra/auto`` request runs:
``AutoClassifier.classify`` (features + learned model + hard rules) on the held-out prompts
(tests/data/route_heldout.jsonl; ``--n``/20 calls per batch), and ``Selector.choose`` over 8
endpoints (screening, the same conversation's endpoint, the power of two choices; ``--n`` calls per
batch). Each code version runs in its own subprocess (``PYTHONPATH`` = its checkout), alternating
``--rounds`` times so both see the same machine load; the medians of the per-round medians are compared.

    .venv/bin/python bench/hot_path_split.py --before /path/to/old/checkout [--rounds 5] [--n 20000]
        [--steps classify,choose] [--out hot_path_split.json]

Prints a table and writes bench/results/hot_path_split.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _measure(n: int, steps: list[str]) -> dict[str, float]:
    """Worker mode: ns per call of each step, median of 5 batches (imports from PYTHONPATH's checkout)."""
    from hydra_os.inference.auto_classifier import AutoClassifier  # lazy: the checkout under test is on PYTHONPATH
    from hydra_os.inference.endpoint import EndpointInfo  # lazy: as above
    from hydra_os.inference.selection import Selector  # lazy: as above

    rows = [json.loads(line) for line in (REPO / "tests/data/route_heldout.jsonl").read_text().splitlines() if line]
    bodies = [{"model": "hydra/auto", "messages": r.get("messages") or [{"role": "user", "content": r["prompt"]}]}
              for r in rows]
    clf = AutoClassifier.load()
    eps = [EndpointInfo(id=f"n{i}.m", model="m", engine="vllm", base_url="http://x/v1", node=f"n{i}", tier="standard",
                        context_length=8192 if i % 2 else 4096) for i in range(8)]
    sel = Selector(max_in_flight=4, sticky_entries=1000)
    keys = [f"conv{i}" for i in range(64)]

    def classify(k: int) -> None:
        clf.classify(bodies[k % len(bodies)])

    def choose(k: int) -> None:
        sel.choose(eps, needed_tokens=1000, wanted_tokens=6000, sticky_key=keys[k % 64], exclude={eps[k % 8].id})

    import hydra_os  # lazy: which checkout this worker measures

    out: dict[str, float] = {"code": hydra_os.__file__}  # type: ignore[dict-item]
    for name, fn, calls in (("classify", classify, max(n // 20, 50)), ("choose", choose, n)):  # classify ~1 ms
        if name not in steps:
            continue
        batches = []
        for _ in range(5):
            t0 = time.perf_counter_ns()
            for k in range(calls):
                fn(k)
            batches.append((time.perf_counter_ns() - t0) / calls)
        out[name] = statistics.median(batches)
    return out


def _run(root: Path, n: int, steps: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, __file__, "--worker", "--n", str(n), "--steps", ",".join(steps)],
                          env=env, cwd=root,
                          capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="checkout of the code before the split")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--steps", default="classify,choose", help="which steps, comma-separated")
    ap.add_argument("--out", default="hot_path_split.json", help="file name under bench/results")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    steps = args.steps.split(",")
    if args.worker:
        print(json.dumps(_measure(args.n, steps)))
        return
    assert args.before is not None, "--before is required"
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        runs["before"].append(_run(args.before.resolve(), args.n, steps))
        runs["after"].append(_run(REPO, args.n, steps))
    result: dict[str, object] = {"rounds": args.rounds, "calls_per_batch": args.n, "per_round_ns": runs,
                                 "load_average_at_end": os.getloadavg()}
    print(f"{'step':<10} {'before ns':>10} {'after ns':>10} {'change':>8}")
    for step in steps:
        before = statistics.median(r[step] for r in runs["before"])
        after = statistics.median(r[step] for r in runs["after"])
        result[step] = {"before_ns": round(before), "after_ns": round(after), "change": round(after / before - 1, 3)}
        print(f"{step:<10} {before:>10.0f} {after:>10.0f} {after / before - 1:>+8.1%}")
    out = REPO / "bench" / "results" / args.out
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
