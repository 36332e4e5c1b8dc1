"""Where the time of one ``hydra/assistant`` context assembly goes, phase by phase.

The gateway's memory path for one chat turn, as the daemon with the gateway and memory roles runs it:
one event loop, a real nats-server (embedded), a :class:`~memory.service.MemoryService` over real local
stores, and the bus :class:`~memory.client.MemoryClient` the gateway uses. For each query it times:

- ``assemble``: :func:`memory.conversation.assemble` (what ``MemoryChat.context`` awaits), end to end;
- per memory verb: the client's whole request (params out, reply validated), the bus round trip inside
  it, the memory node's handling inside that (params parsed, store call, reply written), and the store
  call itself; ``embed`` is the query embedding inside ``archival.search``;
- ``render``: ``MemoryContext.render`` + ``merge_system`` + ``provenance_header`` (the prompt and header);
- ``handshake``: a fresh client's ``open()`` (``hello``): what a request pays when it opens its own client;
- ``api_search``: what ``GET /v1/memory/search`` does past HTTP (handshake, search, ``model_dump``, JSON);
- ``in_process_search``: the same search on the stores directly, hybrid, vector-only and BM25-only.

Two passes: the store as written (its index not built yet: what a memory node serves until its optimiser
runs) and after ``optimize()`` (the HNSW index built: what it serves after).

Medians over the queries (each query ``--rounds`` times, after a warm-up), as milliseconds; per verb the
number of calls per assembly too. ``--store DIR`` uses a state dir filled before (e.g. by
bench/router.py's fill: ``DIR/memory/...``), copied so the run changes nothing; else ``--passages N``
are filled into a temp dir first.

    .venv/bin/python bench/memory_context_profile.py --store /tmp/store-100k [--rounds 20]
    .venv/bin/python bench/memory_context_profile.py --passages 10000

Prints a table and writes bench/results/memory_context_profile.json.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nats.aio.msg import Msg  # noqa: E402

from hydra_os.bus.client import Bus  # noqa: E402
from hydra_os.bus.embedded import EmbeddedNats  # noqa: E402
from hydra_os.config import BusConfig  # noqa: E402
from memory.client import MemoryClient  # noqa: E402
from memory.config import MemoryConfig  # noqa: E402
from memory.conversation import assemble, merge_system, provenance_header  # noqa: E402
from memory.idempotency import Outcome  # noqa: E402
from memory.protocols import LearningIn, MemoryStack, PassageIn  # noqa: E402
from memory.service import MemoryService  # noqa: E402
from memory.verb_models import Params  # noqa: E402
from memory.verbs import VerbSpec  # noqa: E402
from memory.wiring import open_local  # noqa: E402

TOPICS = ["disk", "backup", "editor", "garden", "novel", "chapter", "train", "GPU", "router", "recipe", "Lyon",
          "metric", "kernel", "NixOS", "camera", "bread", "piano", "budget", "flight", "station"]
# bench/router.py's query, and longer ones the way a person asks (more words: more entity look-ups)
QUERIES = [f"What about the {t}?" for t in TOPICS[:5]] + [
    "Where did I put the spare SSD for the NAS before the trip to Lyon last winter?",
    "Which editor do I use for the visual novel chapters, and did I switch the keyboard layout?",
    "How much did the GPU upgrade for the homelab cost compared to the budget I set in March?",
]

Spans = dict[str, list[float]]


class Timer:
    """Collects named spans (seconds) for the assembly under way."""

    def __init__(self) -> None:
        self.spans: Spans = defaultdict(list)

    def add(self, name: str, seconds: float) -> None:
        self.spans[name].append(seconds)

    def take(self) -> Spans:
        out, self.spans = self.spans, defaultdict(list)
        return out


TIMER = Timer()


class TimedClient(MemoryClient):
    """The gateway's client, with each request and its bus round trip timed (nothing else changed)."""

    async def request(self, spec: VerbSpec[Any, Any], params: Any, timeout: float | None = None) -> Any:
        t0 = time.perf_counter()
        try:
            return await super().request(spec, params, timeout)
        finally:
            TIMER.add(f"{spec.verb} client", time.perf_counter() - t0)

    async def _exchange(self, verb: str, payload: bytes, wait: float, headers: dict[str, str] | None,
                        request_id: str | None) -> Msg | None:
        t0 = time.perf_counter()
        try:
            return await super()._exchange(verb, payload, wait, headers, request_id)
        finally:
            TIMER.add(f"{verb} bus", time.perf_counter() - t0)


class TimedService(MemoryService):
    """The memory node's service, with each verb's handling and its store call timed."""

    async def _outcome(self, spec: VerbSpec[Any, Any], data: bytes) -> Outcome:
        call = spec.call

        async def store_call(s: Any, p: Params) -> Any:
            t0 = time.perf_counter()
            try:
                return await call(s, p)
            finally:
                TIMER.add(f"{spec.verb} store", time.perf_counter() - t0)

        timed = dataclasses.replace(spec, call=store_call)
        t0 = time.perf_counter()
        try:
            return await super()._outcome(timed, data)
        finally:
            TIMER.add(f"{spec.verb} server", time.perf_counter() - t0)


def time_embedder(stack: MemoryStack) -> None:
    """Time the query embedding inside archival.search (the store's own embedder object)."""
    embedder = getattr(stack.archival, "embedder", None)
    if embedder is None:
        return
    inner = embedder.embed

    async def embed(texts: list[str]) -> list[list[float]]:
        t0 = time.perf_counter()
        try:
            got: list[list[float]] = await inner(texts)
            return got
        finally:
            TIMER.add("embed", time.perf_counter() - t0)

    embedder.embed = embed  # an instance attribute: the store calls it through the same object


async def fill(mem_stack: MemoryStack, n: int) -> None:
    for start in range(0, n, 1000):
        await mem_stack.archival.add([
            PassageIn(text=f"Note {i}: the {TOPICS[i % 20]} and the {TOPICS[(i * 7) % 20]} came up on day "
                           f"{i % 365}, item {i}.", session=f"s{i // 50}")
            for i in range(start, min(n, start + 1000))])


async def seed_learnings(stack: MemoryStack) -> None:
    """A few learnings, so the learnings section has something to find (as a used install does)."""
    for t in TOPICS[:10]:
        await stack.learnings.add(LearningIn(context=f"the {t}", learning=f"check the {t} notes first"))


def ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 3) if values else 0.0


async def one_assembly(stack: MemoryStack, cfg: MemoryConfig, query: str) -> Spans:
    TIMER.take()
    t0 = time.perf_counter()
    ctx = await assemble(stack, cfg.context, query, deadline_s=30)
    t1 = time.perf_counter()
    merge_system([{"role": "user", "content": query}], ctx.render())
    provenance_header(ctx)
    t2 = time.perf_counter()
    spans = TIMER.take()
    spans["assemble"] = [t1 - t0]
    spans["render"] = [t2 - t1]
    return spans


async def api_search(bus: Bus, query: str) -> tuple[float, float]:
    """``GET /v1/memory/search`` past HTTP: (handshake seconds, search + dump seconds)."""
    t0 = time.perf_counter()
    client = await MemoryClient(bus, timeout=30).open()
    t1 = time.perf_counter()
    hits = await client.stack().archival.search(query, limit=8)
    json.dumps([h.model_dump(mode="json") for h in hits])
    return t1 - t0, time.perf_counter() - t1


def summarise(per_query: list[Spans]) -> dict[str, dict[str, float]]:
    """Per span: the median over assemblies of its per-assembly sum, and calls per assembly."""
    names = sorted({k for s in per_query for k in s})
    out: dict[str, dict[str, float]] = {}
    for name in names:
        sums = [sum(s.get(name, [])) for s in per_query]
        counts = [len(s.get(name, [])) for s in per_query]
        out[name] = {"p50_ms": ms(sums), "calls": statistics.median(counts)}
    return out


async def measure(stack: MemoryStack, local: MemoryStack, bus: Bus, cfg: MemoryConfig, rounds: int
                  ) -> dict[str, Any]:
    """One pass: every query ``rounds`` times (after two warm-up rounds), all spans."""
    per_query: dict[str, list[Spans]] = defaultdict(list)
    flat: Spans = defaultdict(list)
    for r in range(rounds + 2):
        for q in QUERIES:
            spans = await one_assembly(stack, cfg, q)
            hs, so = await api_search(bus, q)
            took: dict[str, float] = {"handshake": hs, "api_search_past_handshake": so}
            for mode in ("hybrid", "vector", "bm25"):
                t0 = time.perf_counter()
                await local.archival.search(q, limit=cfg.context.passages, mode=mode)
                took[f"in_process_search_{mode}"] = time.perf_counter() - t0
            TIMER.take()
            if r >= 2:
                per_query[q].append(spans)
                for k, v in took.items():
                    flat[k].append(v)
    everything = [s for v in per_query.values() for s in v]
    return {
        "assembly": summarise(everything),
        "assembly_by_query_p50_ms": {q: ms([s["assemble"][0] for s in v]) for q, v in per_query.items()},
        **{f"{k}_p50_ms": ms(v) for k, v in flat.items()},
        "load_average": os.getloadavg(),
    }


async def run(args: argparse.Namespace, state: Path, tmp: Path) -> dict[str, Any]:
    cfg = MemoryConfig()
    cfg.embed.backend = args.embedder
    mem = await open_local(cfg, state)
    phases: dict[str, Any] = {}
    try:
        if args.passages and await mem.stack.archival.count() == 0:
            await fill(mem.stack, args.passages)
        if not await mem.stack.learnings.list_learnings(limit=1):
            await seed_learnings(mem.stack)
        count = await mem.stack.archival.count()
        time_embedder(mem.stack)
        async with EmbeddedNats(tmp / "nats") as srv:
            assert srv.url
            async with Bus([srv.url], BusConfig(), name="bench") as bus:
                async with TimedService(bus, mem.stack, "bench", mem.embedder):
                    stack = (await TimedClient(bus, timeout=30).open()).stack()
                    if not args.skip_unindexed:
                        phases["as written (index not built)"] = await measure(stack, mem.stack, bus, cfg, args.rounds)
                    t0 = time.perf_counter()
                    await mem.stack.archival.optimize()  # what the memory node's optimiser does
                    optimize_s = time.perf_counter() - t0
                    phases["indexed (after optimize)"] = await measure(stack, mem.stack, bus, cfg, args.rounds)
    finally:
        await mem.close()
    return {
        "bench": "memory_context_profile",
        "passages": count,
        "embedder": args.embedder,
        "rounds": args.rounds,
        "queries": QUERIES,
        "optimize_seconds": round(optimize_s, 1),
        "phases": phases,
        "cpus": os.cpu_count(),
        "shared_with": args.shared_with,
    }


def show(out: dict[str, Any]) -> None:
    print(f"context assembly profile: {out['passages']} passages, {out['embedder']} embedder, "
          f"{out['rounds']} rounds x {len(out['queries'])} queries; optimize took {out['optimize_seconds']} s")
    for phase, p in out["phases"].items():
        print(f"\n{phase} (load average {tuple(round(x, 1) for x in p['load_average'])})")
        print(f"  {'span':<32}{'p50 ms/assembly':>16}{'calls':>8}")
        for name, v in p["assembly"].items():
            print(f"  {name:<32}{v['p50_ms']:>16.3f}{v['calls']:>8g}")
        print("  per query, assemble p50 ms:")
        for q, v in p["assembly_by_query_p50_ms"].items():
            print(f"    {v:>8.3f}  {q}")
        print(f"  fresh client handshake (hello) p50 {p['handshake_p50_ms']:.3f} ms; /v1/memory/search past HTTP "
              f"and handshake p50 {p['api_search_past_handshake_p50_ms']:.3f} ms")
        print(f"  in-process search p50: hybrid {p['in_process_search_hybrid_p50_ms']:.3f} ms, vector "
              f"{p['in_process_search_vector_p50_ms']:.3f} ms, bm25 {p['in_process_search_bm25_p50_ms']:.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=None, help="a filled state dir (copied, not changed)")
    ap.add_argument("--passages", type=int, default=10_000, help="without --store: passages to fill")
    ap.add_argument("--embedder", default="hashing", choices=["hashing", "onnx", "minilm"])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--skip-unindexed", action="store_true", help="only the indexed pass (optimize first)")
    ap.add_argument("--shared-with", default="other agents' work on this 2-core VM")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "memory_context_profile.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        state = tmp / "state"
        if args.store is not None:
            shutil.copytree(args.store, state)
            args.passages = 0
        out = asyncio.run(run(args, state, tmp))
    show(out)
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
