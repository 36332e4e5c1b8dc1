"""MCP tool-call round trip (issue 13, "Numbers"): ``memory_search`` over streamable HTTP at N passages.

A real daemon (embedded nats-server, embedded Qdrant archival) on a state dir pre-filled offline with
N synthetic passages (bench/memory.py's generator; vectors from the hashing embedder, which the daemon
then uses for queries too: the ONNX MiniLM default embeds ~14 texts/s on this shared 2-core machine, so
filling 100k with it is not feasible here). Side by side in one run, the same queries:
  - ``mcp``: the SDK's client (``mcp.client.streamable_http``) calling ``memory_search`` at ``/mcp``;
  - ``rest``: the node's own ``GET /v1/memory/search`` (the peer: same stores, same bus hop, no MCP);
and, in this process, the ONNX MiniLM query-embedding p50, which a node on the default embedder pays
on top of the hashing figures. Medians (p50) and p90 in ms.

Run: .venv/bin/python bench/mcp.py [--passages 10000] [--queries 200]
Writes bench/results/mcp.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# the repo root instead of bench/ (the script's own dir), where this file would shadow the `mcp` package
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx  # noqa: E402
import httpx2  # noqa: E402
from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from bench.memory import synth_passages  # noqa: E402
from memory.config import MemoryConfig  # noqa: E402
from memory.embed import OnnxEmbedder, onnx_available  # noqa: E402
from memory.protocols import Passage  # noqa: E402
from memory.wiring import open_local  # noqa: E402
from tests.helpers import DaemonProc, daemon_env, wait_for  # noqa: E402

ENV = {"HYDRA_MEMORY__EMBED__BACKEND": "hashing"}


def stats(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=10)
    return {"p50_ms": round(statistics.median(ms), 2), "p90_ms": round(q[8], 2), "n": len(ms)}


async def fill(state_dir: Path, n: int) -> float:
    """N passages into the node's own stores, offline (the daemon is not running yet)."""
    cfg = MemoryConfig()
    cfg.embed.backend = "hashing"
    mem = await open_local(cfg, state_dir)
    t0 = time.perf_counter()
    try:
        texts = synth_passages(n, seed=11)
        base = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(0, n, 1000):
            chunk = texts[i:i + 1000]
            vecs = await mem.embedder.embed(chunk)
            await mem.stack.archival.import_passages([
                Passage(id=f"p{i + j}", text=t, source="bench", tags=[f"t{(i + j) % 10}"],
                        created_at=base + timedelta(minutes=i + j), embedding_model=mem.embedder.model, vector=v)
                for j, (t, v) in enumerate(zip(chunk, vecs, strict=True))])
        await mem.stack.archival.optimize()
        assert await mem.stack.archival.count() == n
    finally:
        await mem.close()
    return time.perf_counter() - t0


async def over_mcp(d: DaemonProc, queries: list[str]) -> list[float]:
    out = []
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {d.token}"}, timeout=60) as http, \
            streamable_http_client(d.api_url + "/mcp", http_client=http) as (read, write), \
            ClientSession(read, write) as s:
        await s.initialize()
        for q in queries[:5]:
            await s.call_tool("memory_search", {"query": q, "k": 10})  # warm up
        for q in queries:
            t = time.perf_counter()
            r = await s.call_tool("memory_search", {"query": q, "k": 10})
            out.append((time.perf_counter() - t) * 1000)
            assert not r.is_error and r.structured_content and r.structured_content["result"], r.content
    return out


async def over_rest(d: DaemonProc, queries: list[str]) -> list[float]:
    out = []
    async with httpx.AsyncClient(base_url=d.api_url, headers={"Authorization": f"Bearer {d.token}"},
                                 timeout=60) as c:
        for q in queries[:5]:
            (await c.get("/v1/memory/search", params={"q": q, "limit": 10})).raise_for_status()
        for q in queries:
            t = time.perf_counter()
            r = await c.get("/v1/memory/search", params={"q": q, "limit": 10})
            out.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200 and r.json(), r.text
    return out


async def onnx_query_embed(queries: list[str]) -> dict[str, float] | str:
    if why := onnx_available():
        return f"not measured: {why}"
    emb = OnnxEmbedder()
    await emb.embed(["warm up"])
    out = []
    for q in queries[:30]:
        t = time.perf_counter()
        await emb.embed([q])
        out.append((time.perf_counter() - t) * 1000)
    await emb.close()
    return stats(out)


def memory_up(d: DaemonProc) -> bool:
    with d.client() as c:
        return c.get("/v1/memory/search", params={"q": "ping", "limit": 1}).status_code == 200


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    load0 = os.getloadavg()[0]
    queries = synth_passages(args.queries, seed=13)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        fill_s = await fill(state, args.passages)
        d = DaemonProc("bench-mcp", state, daemon_env(**ENV))
        try:
            d.start(timeout=120)
            wait_for(lambda: memory_up(d), 120, what="memory served")
            # interleaved rounds, so a burst of load from other processes hits both sides alike
            mcp_ms: list[float] = []
            rest_ms: list[float] = []
            half = len(queries) // 2
            for part in (queries[:half], queries[half:]):
                mcp_ms += await over_mcp(d, part)
                rest_ms += await over_rest(d, part)
        finally:
            d.stop()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": f"{os.cpu_count()} cores; load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end "
               "(other agents' builds and tests shared the CPU)",
        "passages": args.passages,
        "fill_s": round(fill_s, 1),
        "embedder_in_daemon": "hashing (384-d)",
        "memory_search_round_trip": {"mcp_streamable_http": stats(mcp_ms), "rest_v1_memory_search": stats(rest_ms)},
        "onnx_minilm_query_embed_in_process": await onnx_query_embed(queries),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "mcp.json"))
    args = ap.parse_args()
    res = asyncio.run(amain(args))
    print(json.dumps(res, indent=1))
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
