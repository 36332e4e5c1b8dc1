"""The memory client's handshake, side by side: ``hello`` (what ``MemoryClient.open()`` asks now: the
node and its embedding model) against ``info`` (what it asked before: every store counted, every
learning and block read) on the same memory node. Every ``/v1/memory`` request opens a client, so
this is a per-request cost.

    .venv/bin/python bench/memory_handshake.py [--passages N] [--learnings N] [--rounds N]

A real nats-server (embedded, as the daemon runs it), real stores in a temp dir (the documented
hashing embedder: no model load), one MemoryService; the two handshakes alternate, one at a time.
Prints medians and p90 in milliseconds and writes bench/results/memory_handshake.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hydra_os.bus.client import Bus  # noqa: E402
from hydra_os.bus.embedded import EmbeddedNats  # noqa: E402
from hydra_os.config import BusConfig  # noqa: E402
from memory.client import MemoryClient  # noqa: E402
from memory.config import MemoryConfig  # noqa: E402
from memory.protocols import LearningIn, PassageIn  # noqa: E402
from memory.service import MemoryService  # noqa: E402
from memory.verbs import MemoryVerb  # noqa: E402
from memory.wiring import open_local  # noqa: E402


async def fill(client: MemoryClient, passages: int, learnings: int) -> None:
    stack = client.stack()
    await stack.archival.add([PassageIn(text=f"note {i}: the NAS in rack {i % 7} holds backup set {i}")
                              for i in range(passages)])
    for i in range(learnings):
        await stack.learnings.add(LearningIn(context=f"incident {i}", learning=f"restart service {i} after updates"))


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {"median_ms": round(statistics.median(ms), 3), "p90_ms": round(ms[int(len(ms) * 0.9) - 1], 3),
            "n": len(ms)}


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


async def main(args: argparse.Namespace) -> dict[str, Any]:
    cfg = MemoryConfig()
    cfg.embed.backend = "hashing"
    with tempfile.TemporaryDirectory() as tmp:
        async with EmbeddedNats(Path(tmp) / "nats") as srv:
            assert srv.url
            async with Bus([srv.url], BusConfig(), name="bench") as bus:
                mem = await open_local(cfg, Path(tmp) / "state")
                try:
                    async with MemoryService(bus, mem.stack, "bench", mem.embedder):
                        client = MemoryClient(bus, timeout=60)
                        await fill(client, args.passages, args.learnings)
                        hello: list[float] = []
                        info: list[float] = []
                        for _ in range(args.rounds):
                            hello.append(await timed(MemoryClient(bus, timeout=60).open))
                            info.append(await timed(lambda: client.call(MemoryVerb.INFO)))
                finally:
                    await mem.close()
    return {
        "bench": "memory_handshake",
        "passages": args.passages,
        "learnings": args.learnings,
        "hello (MemoryClient.open now)": summary(hello),
        "info (MemoryClient.open before)": summary(info),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "shared_with": args.shared_with},
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--passages", type=int, default=2000)
    p.add_argument("--learnings", type=int, default=300)
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--shared-with", default="other agents' work on this 2-core VM",
                   help="what else ran on the machine, recorded in the results")
    out = asyncio.run(main(p.parse_args()))
    print(json.dumps(out, indent=2))
    (REPO / "bench" / "results" / "memory_handshake.json").write_text(json.dumps(out, indent=2) + "\n")
