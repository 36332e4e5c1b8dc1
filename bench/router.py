"""Router benchmark: direct to the backend vs through Hydra vs through a LiteLLM proxy, one run.

All three talk to the same stand-in OpenAI backend (tests/standins/openai_server.py, its own process).
Hydra is a real ``hydra run`` daemon (gateway role only) with the backend as a static endpoint; "floor" is
bench/relay_floor.py, a pass-through relay on the same stack with none of the gateway's logic; LiteLLM
is ``litellm --num_workers <cores>`` from a separate venv (default /work/bench-venv, not in pyproject).

Measures:
- sequential non-streaming chat completions, interleaved per round across targets: p50 / p99 latency
  and the added latency over direct;
- 64 concurrent streaming clients, a fixed time per target in each of ``--rounds`` rounds (targets
  interleaved, after a warm-up): requests/s and time to first token (p50 of the pooled samples, and
  added over direct; the per-round p50s are in the JSON);
- the hydra/auto classifier (``--classifier-only`` runs just this): time per classification, accuracy,
  heavy recall and confusion on the held-out set (tests/data/route_heldout.jsonl), the rules-era test
  split, the training data itself, and 5-fold cross-validation on the training data; the rules alone
  beside it.

- with ``--memory-passages N``: hydra vs hydra+memory, one daemon (gateway and memory roles) whose
  archival store holds N passages (built before the daemon starts, with ``--memory-embedder``): the same
  request as a plain model name and as ``hydra/assistant`` (context assembly, injection, archiving),
  interleaved; sequential latency and one-client time to first token, p50 and the added p50.
  ``--only-memory`` runs just that row. ``--memory-store DIR`` starts from a state dir filled before
  (copied for each daemon; ``--memory-fill-only DIR`` fills one and exits: 100k passages take minutes).
  A fill ends with ``optimize()`` (the HNSW index), as a memory node's optimiser leaves a store it wrote.
  ``--memory-before TREE`` adds a second memory daemon run from another checkout of the code (e.g.
  ``git archive <commit> | tar -x -C TREE``), over its own copy of the same store and the same backend,
  its requests interleaved with the others: the before and after of a change, side by side in one run.
  ``--memory-wait-indexed`` measures once the daemon has run an index optimisation (for a store never
  optimised: the periodic one, ``memory.service.optimize_interval_s`` after start; the row records each
  daemon's optimisation count before and after measuring).

Prints a table and writes bench/results/router.json (``--only-memory``: bench/results/router_memory.json).

    .venv/bin/python bench/router.py [--seq 400] [--streams 64] [--duration 8] [--litellm /work/bench-venv]
    .venv/bin/python bench/router.py --only-memory --memory-passages 100000 [--seq 200]
    .venv/bin/python bench/router.py --memory-fill-only /tmp/store-100k --memory-passages 100000
    .venv/bin/python bench/router.py --only-memory --memory-store /tmp/store-100k --memory-before /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hydra_os.inference.auto_classifier import AutoClassifier  # noqa: E402
from hydra_os.inference.classifier import classify_body  # noqa: E402
from hydra_os.inference.route_log import RouteLog  # noqa: E402
from hydra_os.inference.route_train import (  # noqa: E402
    cross_validate,
    data_file,
    evaluate,
    parse_rows,
    shipped_rows,
)
from tests.helpers import DaemonProc, daemon_env, free_port, wait_for  # noqa: E402

MODEL = "bench-model"
LITELLM_KEY = "sk-bench-" + os.urandom(16).hex()  # LiteLLM refuses to start without a master key
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say something short about owls."}]}


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


class Backend:
    def __init__(self, tokens: int, interval: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.standins.openai_server", "--model", MODEL, "--name", "bench",
             "--tokens", str(tokens), "--token-interval", str(interval)],
            stdout=subprocess.PIPE, cwd=str(REPO),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_hydra(tmp: Path, backend_url: str, name: str = "hydra", ui: bool = True) -> DaemonProc:
    """A gateway-only daemon routing to the backend (``ui``: with the web page mounted at /ui, the default)."""
    cfg = tmp / f"{name}.toml"
    cfg.write_text(
        '[node]\nroles = ["gateway"]\n[log]\nlevel = "WARNING"\n[inference.router]\nmax_in_flight = 1024\n'
        f'[ui]\nenabled = {str(ui).lower()}\n'
        f'[[inference.endpoints]]\nurl = "{backend_url}"\nmodel = "{MODEL}"\ntier = "fast"\n'
    )
    env = daemon_env(HYDRA_CONFIG=str(cfg), HYDRA_LOG__LEVEL="WARNING")
    d = DaemonProc(name, tmp / name, env)
    d.start()
    with d.client() as c:
        wait_for(lambda: c.post("/v1/chat/completions", json=BODY).status_code == 200, 15, what="hydra routes")
    return d


_TOPICS = ["disk", "backup", "editor", "garden", "novel", "chapter", "train", "GPU", "router", "recipe", "Lyon",
           "metric", "kernel", "NixOS", "camera", "bread", "piano", "budget", "flight", "station"]


async def _fill(state_dir: Path, n: int, embedder: str) -> float:
    """N owner-like passages into a fresh archival store under ``state_dir`` (seconds it took)."""
    from memory.protocols import PassageIn
    from memory.wiring import open_local
    from tests.memory.conftest import hashing_config

    cfg = hashing_config()
    cfg.embed.backend = embedder  # type: ignore[assignment]
    t0 = time.perf_counter()
    mem = await open_local(cfg, state_dir)
    try:
        for start in range(0, n, 1000):
            batch = [PassageIn(text=f"Note {i}: the {_TOPICS[i % 20]} and the {_TOPICS[(i * 7) % 20]} came up "
                                    f"on day {i % 365}, item {i}.", session=f"s{i // 50}")
                     for i in range(start, min(n, start + 1000))]
            await mem.stack.archival.add(batch)
        # the index a memory node builds as passages arrive (its optimiser runs every 1000 added): without
        # it, the measured daemon would search brute force, or spend the run optimising
        await mem.stack.archival.optimize()
    finally:
        await mem.close()
    return time.perf_counter() - t0


async def _ttft(url: str, headers: dict[str, str], body: dict[str, Any], s: aiohttp.ClientSession) -> float:
    t0 = time.perf_counter()
    async with s.post(url + "/chat/completions", json={**body, "stream": True}, headers=headers) as r:
        assert r.status == 200, await r.text()
        first = None
        async for chunk in r.content.iter_any():
            if first is None and b'"content"' in chunk:
                first = time.perf_counter()
    assert first is not None
    return (first - t0) * 1000


Target = tuple[str, str, dict[str, str], dict[str, Any]]  # name, API url, headers, request body


async def _memory_runs(targets: list[Target], n: int) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {t[0]: {"seq": [], "ttft": []} for t in targets}
    async with aiohttp.ClientSession() as s:
        for i in range(n + 10):  # the first 10 warm up
            for name, url, headers, body in targets:
                q = {**body, "messages": [{"role": "user", "content": f"What about the {_TOPICS[i % 20]}?"}]}
                t0 = time.perf_counter()
                async with s.post(url + "/chat/completions", json=q, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, await r.text()
                    assert name == "hydra" or r.headers.get("x-hydra-memory", "").startswith("ids="), r.headers
                seq = (time.perf_counter() - t0) * 1000
                ttft = await _ttft(url, headers, q, s)
                if i >= 10:
                    out[name]["seq"].append(seq)
                    out[name]["ttft"].append(ttft)
    return out


class TreeDaemon(DaemonProc):
    """A daemon run from another checkout of the code (``tree``): the "before" of a side-by-side run."""

    def __init__(self, node_id: str, state_dir: Path, env: dict[str, str], tree: Path) -> None:
        super().__init__(node_id, state_dir, env)
        self.tree = tree

    def start(self, wait_ready: bool = True, timeout: float = 20.0) -> DaemonProc:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "runtime.json").unlink(missing_ok=True)
        self.log_path = self.state_dir / "daemon.log"
        with self.log_path.open("ab") as log:  # `-m hydra_os` imports the package from the working dir
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hydra_os", "run", "--state-dir", str(self.state_dir), "--node-id",
                 self.node_id, "--api-port", "0"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                cwd=str(self.tree))
        if wait_ready:
            self.wait_ready(timeout)
        return self


def _memory_daemon(tmp: Path, name: str, backend_url: str, embedder: str, tree: Path | None) -> DaemonProc:
    cfg = tmp / f"{name}.toml"
    cfg.write_text(
        '[node]\nroles = ["gateway", "memory"]\n[log]\nlevel = "WARNING"\n[inference.router]\nmax_in_flight = 1024\n'
        f'[memory.embed]\nbackend = "{embedder}"\n'
        f'[[inference.endpoints]]\nurl = "{backend_url}"\nmodel = "{MODEL}"\ntier = "fast"\n'
    )
    env = daemon_env(HYDRA_CONFIG=str(cfg), HYDRA_LOG__LEVEL="WARNING")
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    d = DaemonProc(name, tmp / name, env) if tree is None else TreeDaemon(name, tmp / name, env, tree)
    try:
        d.start(timeout=120)
        body = {**BODY, "model": "hydra/assistant"}
        with d.client() as c:
            wait_for(lambda: c.post("/v1/chat/completions", json=body).headers.get("x-hydra-memory", "")
                     .startswith("ids="), 120, what=f"{name}: hydra+memory injects memory")
            assert c.post("/v1/memory/context", json={"query": "disk"}).status_code == 200
    except BaseException:
        d.stop()  # a daemon that never got ready is not left running
        raise
    return d


def _optimizer_runs(d: DaemonProc) -> int:
    """How many archival index optimisations the daemon's memory node has run (``/v1/status``)."""
    with d.client() as c:
        return int(c.get("/v1/status").json()["components"]["memory"].get("optimizer_runs", 0))


def memory_row(tmp: Path, backend_url: str, passages: int, embedder: str, n: int, store: Path | None = None,
               before: Path | None = None, wait_indexed: bool = False) -> dict[str, Any]:
    """hydra vs hydra+memory on one daemon with ``passages`` in its archival store (and, with ``before``,
    hydra+memory on a daemon run from that checkout, over a copy of the same store). ``wait_indexed``:
    measure once the current daemon's memory node has run its first index optimisation."""
    names = {"hydra-mem": None} | ({"hydra-mem-before": before} if before is not None else {})
    fill_s: float | None = None
    if store is None:
        fill_s = asyncio.run(_fill(tmp / "hydra-mem", passages, embedder))
        store = tmp / "hydra-mem"
    for name in names:
        if tmp / name != store:
            shutil.copytree(store, tmp / name)
    daemons: dict[str, DaemonProc] = {}
    try:
        for name, tree in names.items():
            daemons[name] = _memory_daemon(tmp, name, backend_url, embedder, tree)
        d = daemons["hydra-mem"]
        targets: list[Target] = [("hydra", d.api_url + "/v1", {"Authorization": f"Bearer {d.token}"}, BODY)]
        for name, dm in daemons.items():
            label = "hydra+memory" + (" (before)" if name.endswith("before") else "")
            targets.append((label, dm.api_url + "/v1", {"Authorization": f"Bearer {dm.token}"},
                            {**BODY, "model": "hydra/assistant"}))
        if wait_indexed:  # the current daemon's optimisation at start; a "before" daemon is not waited for
            wait_for(lambda: _optimizer_runs(d) >= 1, 900, what="hydra-mem: the index optimised at start")
        optimized = {name: [_optimizer_runs(dm)] for name, dm in daemons.items()}
        load_before = os.getloadavg()
        runs = asyncio.run(_memory_runs(targets, n))
        load_after = os.getloadavg()
        parts = {name: _memory_parts(dm, max(n // 2, 20)) for name, dm in daemons.items()}
        for name, dm in daemons.items():
            optimized[name].append(_optimizer_runs(dm))
    finally:
        for dm in daemons.values():
            dm.stop()
    row: dict[str, Any] = {"passages": passages, "embedder": embedder, "n": n,
                           "fill_seconds": round(fill_s, 1) if fill_s is not None else None,
                           "store": "filled in this run" if fill_s is not None else "copied from a filled state dir",
                           "before_tree": str(before) if before is not None else None,
                           "load_average": {"before": load_before, "after": load_after},
                           "optimizer_runs_before_and_after_measuring": optimized}
    for name_, r in runs.items():
        row[name_] = {"seq_p50_ms": round(statistics.median(r["seq"]), 3),
                      "ttft_p50_ms": round(statistics.median(r["ttft"]), 3),
                      "ttft_p99_ms": round(pct(r["ttft"], 99), 3)}
    row["parts_p50_ms"] = parts["hydra-mem"]
    for label in [t[0] for t in targets[1:]]:
        suffix = label.removeprefix("hydra+memory").replace(" ", "_")
        for kind in ("ttft", "seq"):
            added = row[label][f"{kind}_p50_ms"] - row["hydra"][f"{kind}_p50_ms"]
            row[f"added_{kind}_p50_ms{suffix}"] = round(added, 3)
    if before is not None:
        row["parts_p50_ms_before"] = parts["hydra-mem-before"]
    return row


def _memory_parts(d: DaemonProc, n: int) -> dict[str, float]:
    """Where assembly time goes: archival search alone, and the whole assembly, through the node API
    (each one HTTP request plus the bus round trips; the gateway saves the HTTP part)."""
    out: dict[str, list[float]] = {"search": [], "context": []}
    with d.client() as c:
        for i in range(n):
            q = f"What about the {_TOPICS[i % 20]}?"
            t0 = time.perf_counter()
            assert c.get("/v1/memory/search", params={"q": q, "limit": 8}).status_code == 200
            out["search"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            assert c.post("/v1/memory/context", json={"query": q}).status_code == 200
            out["context"].append((time.perf_counter() - t0) * 1000)
    return {k: round(statistics.median(v), 3) for k, v in out.items()}


def print_memory_row(m: dict[str, Any]) -> None:
    print(f"\nhydra vs hydra+memory ({m['passages']} passages, {m['embedder']} embedder, n={m['n']} each, "
          f"one client, interleaved; load average {m.get('load_average')})")
    rows = [k for k in ("hydra", "hydra+memory", "hydra+memory (before)") if k in m]
    for k in rows:
        print(f"  {k:<22} seq p50 {m[k]['seq_p50_ms']:>8.3f} ms   ttft p50 {m[k]['ttft_p50_ms']:>8.3f} ms   "
              f"ttft p99 {m[k]['ttft_p99_ms']:>8.3f} ms")
    print(f"  memory adds: ttft p50 {m['added_ttft_p50_ms']:.3f} ms, seq p50 {m['added_seq_p50_ms']:.3f} ms")
    if "added_ttft_p50_ms_(before)" in m:
        print(f"  memory added before: ttft p50 {m['added_ttft_p50_ms_(before)']:.3f} ms, "
              f"seq p50 {m['added_seq_p50_ms_(before)']:.3f} ms")
    for key, label in (("parts_p50_ms", ""), ("parts_p50_ms_before", " (before)")):
        p = m.get(key, {})
        if p:
            print(f"  through the node API{label}, p50: archival search {p['search']:.3f} ms, "
                  f"whole assembly {p['context']:.3f} ms")


def answers(url: str, headers: dict[str, str] | None = None) -> bool:
    """Whether the OpenAI proxy at ``url`` answers the bench's chat request (200) right now."""
    try:
        return httpx.post(url + "/chat/completions", json=BODY, timeout=5, headers=headers).status_code == 200
    except httpx.HTTPError:
        return False


def start_floor(backend_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "relay_floor.py"), backend_url, str(port)],
                            cwd=str(REPO))
    url = f"http://127.0.0.1:{port}/v1"
    wait_for(lambda: answers(url), 30, what="floor relay up")
    return proc, url


def start_litellm(venv: Path, tmp: Path, backend_url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        raise FileNotFoundError(f"{exe} not found (install with: python -m venv {venv} && "
                                f"{venv}/bin/pip install 'litellm[proxy]')")
    cfg = tmp / "litellm.yaml"
    cfg.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {backend_url}\n"
        "      api_key: bench\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_KEY}\n"
    )
    port = free_port()
    log = (tmp / "litellm.log").open("wb")
    # offline: use the bundled model cost map; workers on a loaded 2-core box need ~90 s to boot, longer
    # than uvicorn's default worker health-check timeout (they get killed and restarted forever otherwise)
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.Popen([str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
                             "--num_workers", str(workers), "--timeout_worker_healthcheck", "600"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"litellm exited {proc.returncode}: {(tmp / 'litellm.log').read_text()[-2000:]}")
        return answers(url, {"Authorization": f"Bearer {LITELLM_KEY}"})

    try:
        wait_for(up, 300, interval=1.0, what="litellm proxy up")
        # the first worker to answer may not be the last to finish booting: give the others time
        time.sleep(20)
    except BaseException:
        stop_group(proc)
        raise
    return proc, url


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


async def sequential(targets: dict[str, tuple[str, dict[str, str]]], n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in targets}
    data = json.dumps(BODY).encode()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        for _ in range(20):  # warm-up: connections, caches
            for url, h in targets.values():
                async with s.post(url + "/chat/completions", data=data, headers=h) as r:
                    await r.read()
        for _ in range(n):
            for name, (url, h) in targets.items():
                t0 = time.perf_counter()
                async with s.post(url + "/chat/completions", data=data, headers=h) as r:
                    await r.read()
                    assert r.status == 200, await r.text()
                out[name].append((time.perf_counter() - t0) * 1000)
    return out


async def streaming(url: str, headers: dict[str, str], clients: int, duration: float) -> dict[str, Any]:
    body = json.dumps({**BODY, "stream": True}).encode()
    ttfts: list[float] = []
    done = 0
    errors = 0
    stop_at = time.perf_counter() + duration

    async def one(s: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            first = None
            try:
                async with s.post(url + "/chat/completions", data=body, headers=headers) as r:
                    if r.status != 200:
                        errors += 1
                        await r.read()
                        continue
                    async for chunk in r.content.iter_any():
                        if first is None and b'"content"' in chunk:
                            first = time.perf_counter()
                if first is not None:
                    ttfts.append((first - t0) * 1000)
                done += 1
            except aiohttp.ClientError:
                errors += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(s) for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return {"requests": done, "errors": errors, "elapsed": elapsed, "ttfts": ttfts}


def rounds(targets: dict[str, tuple[str, dict[str, str]]], clients: int, duration: float, n: int) -> dict[str, Any]:
    """``n`` rounds, each target in turn per round (so drift on the box hits all alike), after a short
    warm-up per target; TTFT samples pooled over the rounds, requests/s over the total time."""
    for url, h in targets.values():
        asyncio.run(streaming(url, h, clients, min(2.0, duration)))
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in targets}
    for _ in range(n):
        for name, (url, h) in targets.items():
            runs[name].append(asyncio.run(streaming(url, h, clients, duration)))
    out = {}
    for name, rs in runs.items():
        ttfts = [t for r in rs for t in r["ttfts"]]
        out[name] = {"requests": sum(r["requests"] for r in rs), "errors": sum(r["errors"] for r in rs),
                     "rps": sum(r["requests"] for r in rs) / sum(r["elapsed"] for r in rs),
                     "ttft_p50_ms": statistics.median(ttfts), "ttft_p99_ms": pct(ttfts, 99),
                     "ttft_p50_ms_per_round": [round(statistics.median(r["ttfts"]), 3) for r in rs]}
    return out


def _timing(classify: Any, rows: list[dict[str, Any]], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        for r in rows:
            t0 = time.perf_counter()
            classify(r)
            times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(times), 4), "p99_ms": round(pct(times, 99), 4), "n": len(times)}


def classifier_report(cv: bool = True) -> dict[str, Any]:
    """hydra/auto (the shipped weights) and the rules alone on each labelled set, the cross-validated
    figure on the training data, and the time per classification."""
    auto = AutoClassifier.load()
    rules_set = parse_rows(data_file("prompts.jsonl"), "prompts.jsonl")
    sets = {
        "heldout": parse_rows((REPO / "tests/data/route_heldout.jsonl").read_text(), "route_heldout.jsonl"),
        "rules_set_test": [r for r in rules_set if r["split"] == "test"],
        "train (fit, not held out)": shipped_rows(),
    }
    report: dict[str, Any] = {"weights": auto.source, "sets": {}}
    for name, rows in sets.items():
        report["sets"][name] = {"model": evaluate(lambda r: auto.classify(r).tier, rows),
                                "rules": evaluate(lambda r: classify_body(r).tier, rows)}
    if cv:
        report["train_cv5"] = cross_validate(shipped_rows())
    every = [r for rows in sets.values() for r in rows]
    report["timing_model"] = _timing(auto.classify, every, 5)
    report["timing_rules"] = _timing(classify_body, every, 5)
    # what the gateway adds per hydra/auto request for the route records (the write is batched off it)
    log = RouteLog(Path(tempfile.mkdtemp(prefix="hydra-bench-")) / "routes.jsonl")
    asks = [auto.classify(r) for r in every]
    report["timing_record"] = _timing(lambda c: log.auto("conversation-key", c.ask, c.tier, c.decided_by), asks, 5)
    load = []
    for _ in range(5):
        t0 = time.perf_counter()
        AutoClassifier.load()
        load.append((time.perf_counter() - t0) * 1000)
    report["load_ms_p50"] = round(statistics.median(load), 2)
    return report


def print_classifier(c: dict[str, Any]) -> None:
    m, r = c["timing_model"], c["timing_rules"]
    print(f"\nclassification per request: model p50 {m['p50_ms']} ms, p99 {m['p99_ms']} ms; rules alone p50 "
          f"{r['p50_ms']} ms, p99 {r['p99_ms']} ms (n={m['n']}); loading the weights {c['load_ms_p50']} ms; "
          f"route record p50 {c['timing_record']['p50_ms']} ms")
    print(f"{'set':<28} {'n':>4} {'model acc':>9} {'heavy rec':>9} {'f->h':>4} {'h->f':>4} {'rules acc':>9} "
          f"{'rules heavy rec':>15}")
    rows = [(k, v["model"], v["rules"]) for k, v in c["sets"].items()]
    if "train_cv5" in c:
        rows.append(("train, 5-fold CV", c["train_cv5"], None))
    for name, mo, ru in rows:
        tail = f" {ru['accuracy']:>9.3f} {ru['heavy_recall']:>15.3f}" if ru else ""
        print(f"{name:<28} {mo['n']:>4} {mo['accuracy']:>9.3f} {mo['heavy_recall']:>9.3f} {mo['fast_to_heavy']:>4} "
              f"{mo['heavy_to_fast']:>4}{tail}")
    for name, mo, _ in rows:
        cm = mo["confusion"]
        print(f"confusion {name} (rows = label; columns = routed fast/standard/heavy): " + "; ".join(
            f"{t} {cm[t]['fast']}/{cm[t]['standard']}/{cm[t]['heavy']}" for t in cm))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seq", type=int, default=400, help="sequential requests per target")
    ap.add_argument("--streams", type=int, default=64, help="concurrent streaming clients")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of streaming load per target and round")
    ap.add_argument("--rounds", type=int, default=3, help="streaming rounds (targets interleaved within a round)")
    ap.add_argument("--tokens", type=int, default=16, help="chunks per streamed answer")
    ap.add_argument("--token-interval", type=float, default=0.005, help="seconds between streamed chunks")
    ap.add_argument("--litellm", type=Path, default=Path("/work/bench-venv"), help="venv with litellm[proxy]")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="LiteLLM workers (one per core)")
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/router.json")
    ap.add_argument("--memory-passages", type=int, default=0, help="add the hydra vs hydra+memory row")
    ap.add_argument("--memory-embedder", default="hashing", help="embedder of the memory row's store")
    ap.add_argument("--only-memory", action="store_true", help="run only the hydra vs hydra+memory row")
    ap.add_argument("--memory-store", type=Path, default=None,
                    help="a state dir filled before (--memory-fill-only): copied, not filled again")
    ap.add_argument("--memory-fill-only", type=Path, default=None,
                    help="fill --memory-passages into this state dir and exit")
    ap.add_argument("--memory-before", type=Path, default=None,
                    help="a checkout of older code: its hydra+memory daemon runs side by side (same store)")
    ap.add_argument("--memory-wait-indexed", action="store_true",
                    help="measure once the daemon's memory node has optimised the index (a store not yet indexed)")
    ap.add_argument("--classifier-only", action="store_true",
                    help="only the classifier section (accuracy, cross-validation, timing), written to "
                         "bench/results/router_classifier.json")
    a = ap.parse_args()
    if a.classifier_only:
        c = classifier_report()
        print_classifier(c)
        out = REPO / "bench" / "results" / "router_classifier.json"
        out.write_text(json.dumps(c, indent=2) + "\n")
        print(f"\nwrote {out}")
        return
    if a.memory_fill_only is not None:
        took = asyncio.run(_fill(a.memory_fill_only, a.memory_passages or 100_000, a.memory_embedder))
        print(f"filled {a.memory_fill_only} in {took:.1f} s")
        return
    if a.only_memory:
        a.memory_passages = a.memory_passages or 100_000
        out = a.out or REPO / "bench" / "results" / "router_memory.json"
        tmp = Path(tempfile.mkdtemp(prefix="hydra-bench-"))
        backend = Backend(a.tokens, a.token_interval)
        try:
            m = memory_row(tmp, backend.url, a.memory_passages, a.memory_embedder, a.seq, a.memory_store,
                           a.memory_before, a.memory_wait_indexed)
        finally:
            backend.stop()
            shutil.rmtree(tmp, ignore_errors=True)
        print_memory_row(m)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"params": {k: str(v) for k, v in vars(a).items()}, "cpus": os.cpu_count(),
                                   "memory": m}, indent=2) + "\n")
        print(f"\nwrote {out}")
        return
    a.out = a.out or REPO / "bench" / "results" / "router.json"

    tmp = Path(tempfile.mkdtemp(prefix="hydra-bench-"))
    backend = Backend(a.tokens, a.token_interval)
    hydras: list[DaemonProc] = []
    litellm: subprocess.Popen[bytes] | None = None
    floor: subprocess.Popen[bytes] | None = None
    result: dict[str, Any] = {"params": {k: str(v) for k, v in vars(a).items()}, "cpus": os.cpu_count()}
    try:
        targets: dict[str, tuple[str, dict[str, str]]] = {
            "direct": (backend.url, {"Content-Type": "application/json"}),
        }
        d = start_hydra(tmp, backend.url)
        hydras.append(d)
        targets["hydra"] = (d.api_url + "/v1", {"Content-Type": "application/json",
                                                "Authorization": f"Bearer {d.token}"})
        floor, furl = start_floor(backend.url)
        targets["floor"] = (furl, {"Content-Type": "application/json"})
        try:
            litellm, lurl = start_litellm(a.litellm, tmp, backend.url, a.workers)
            targets["litellm"] = (lurl, {"Content-Type": "application/json", "Authorization": f"Bearer {LITELLM_KEY}"})
        except (FileNotFoundError, RuntimeError, AssertionError) as e:
            result["litellm_error"] = str(e)
            print(f"LiteLLM not measured: {e}", file=sys.stderr)

        seq = asyncio.run(sequential(targets, a.seq))
        stream = rounds(targets, a.streams, a.duration, a.rounds)
        # one streaming client: the time to first token a proxy adds when the box is not saturated
        single = rounds(targets, 1, a.duration / 2, a.rounds)
        d50, d99 = statistics.median(seq["direct"]), pct(seq["direct"], 99)
        rows: dict[str, Any] = {}
        for name in targets:
            p50, p99 = statistics.median(seq[name]), pct(seq[name], 99)
            st = stream[name]
            rows[name] = {
                "seq_p50_ms": round(p50, 3), "seq_p99_ms": round(p99, 3),
                "seq_added_p50_ms": round(p50 - d50, 3), "seq_added_p99_ms": round(p99 - d99, 3),
                "stream_rps": round(st["rps"], 1), "stream_errors": st["errors"],
                "ttft_p50_ms": round(st["ttft_p50_ms"], 3), "ttft_p99_ms": round(st["ttft_p99_ms"], 3),
                "ttft_p50_ms_per_round": st["ttft_p50_ms_per_round"],
                "ttft_added_p50_ms": round(st["ttft_p50_ms"] - stream["direct"]["ttft_p50_ms"], 3),
                "ttft_1client_p50_ms": round(single[name]["ttft_p50_ms"], 3),
                "ttft_1client_added_p50_ms": round(single[name]["ttft_p50_ms"] - single["direct"]["ttft_p50_ms"], 3),
            }
        result["rows"] = rows
        if "litellm" in rows:
            result["hydra_vs_litellm_rps"] = round(rows["hydra"]["stream_rps"] / rows["litellm"]["stream_rps"], 2)
        if a.memory_passages:
            result["memory"] = memory_row(tmp, backend.url, a.memory_passages, a.memory_embedder, a.seq,
                                          a.memory_store, a.memory_before, a.memory_wait_indexed)
    finally:
        if litellm is not None:
            stop_group(litellm)
        if floor is not None:
            floor.terminate()
            floor.wait(10)
        for d in hydras:
            d.stop()
        backend.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result["classifier"] = classifier_report()

    print(f"\nrouter bench ({os.cpu_count()} CPUs; sequential n={a.seq}; {a.streams} streaming clients x "
          f"{a.duration:g}s x {a.rounds} rounds; {a.tokens} chunks/answer, {a.token_interval * 1000:g} ms apart)")
    hdr = f"{'target':<9} {'seq p50':>8} {'seq p99':>8} {'+p50':>7} {'+p99':>7} {'stream rps':>10} " \
          f"{'ttft p50':>9} {'+ttft p50':>9} {'errors':>6} {'1-client +ttft':>14}"
    print(hdr)
    print("-" * len(hdr))
    for name, r in result["rows"].items():
        print(f"{name:<9} {r['seq_p50_ms']:>8.3f} {r['seq_p99_ms']:>8.3f} {r['seq_added_p50_ms']:>7.3f} "
              f"{r['seq_added_p99_ms']:>7.3f} {r['stream_rps']:>10.1f} {r['ttft_p50_ms']:>9.3f} "
              f"{r['ttft_added_p50_ms']:>9.3f} {r['stream_errors']:>6} {r['ttft_1client_added_p50_ms']:>14.3f}")
    print(f"(ms; + = added over direct, medians unless p99; stream columns: {a.streams} concurrent clients; "
          "last column: one streaming client)")
    print("all on one box: client, backend, hydra and litellm share its CPUs (no pinning)")
    print("floor = bench/relay_floor.py: a pass-through relay on Hydra's stack (uvicorn + aiohttp) with no gateway "
          "logic; hydra minus floor = the gateway's own cost")
    if "hydra_vs_litellm_rps" in result:
        print(f"hydra / litellm streaming requests/s: {result['hydra_vs_litellm_rps']}x")
    if "memory" in result:
        print_memory_row(result["memory"])
    print_classifier(result["classifier"])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
