"""Listing a KV bucket: nats-py's ``kv.keys()`` + one ``kv.get`` per key (how approvals, maintenance
windows and membership were listed; it leaves a consumer behind for 300 s) vs ``kv_scan`` (one
ephemeral pull consumer, deleted after the scan), side by side on one embedded nats-server.

Interleaved rounds over buckets of 10 and 200 keys; medians; the stream's consumer count after each
method's rounds. Prints a table and writes bench/results/listing.json.
Run: .venv/bin/python bench/listing.py [--runs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from nats.js.kv import KeyValue

from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.bus.kvscan import kv_scan
from hydra_os.config import BusConfig


async def keys_then_get(kv: KeyValue) -> list[tuple[str, bytes]]:
    out = []
    for k in await kv.keys():
        entry = await kv.get(k)
        if entry.value:
            out.append((k, entry.value))
    return out


async def one_size(bus: Bus, n: int, runs: int) -> dict[str, Any]:
    bucket = f"bench_{n}"
    kv = await bus.js.create_key_value(bucket=bucket, history=1)
    for i in range(n):
        await kv.put(f"k.{i}", b"x" * 200)
    old: list[float] = []
    new: list[float] = []
    for _ in range(runs):
        t = time.perf_counter()
        assert len(await keys_then_get(kv)) == n
        old.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert len(await kv_scan(kv)) == n
        new.append(time.perf_counter() - t)
    consumers = (await bus.js.stream_info(f"KV_{bucket}")).state.consumer_count
    return {"keys": n, "keys_get_ms": round(statistics.median(old) * 1e3, 2),
            "kv_scan_ms": round(statistics.median(new) * 1e3, 2),
            "consumers_left_after_both": consumers, "runs": runs}


async def run(runs: int) -> list[dict[str, Any]]:
    async with EmbeddedNats(Path(tempfile.mkdtemp()) / "nats") as srv:
        assert srv.url
        async with Bus([srv.url], BusConfig(request_timeout=10)) as bus:
            return [await one_size(bus, n, runs) for n in (10, 200)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    res = asyncio.run(run(args.runs))
    print(f"{'keys':>6} {'keys()+get ms':>14} {'kv_scan ms':>11} {'consumers left':>15}")
    for r in res:
        print(f"{r['keys']:>6} {r['keys_get_ms']:>14} {r['kv_scan_ms']:>11} {r['consumers_left_after_both']:>15}")
    out = Path(__file__).resolve().parent / "results" / "listing.json"
    out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
