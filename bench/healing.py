"""Healing benchmarks (issue 5, Numbers). Prints a table and writes bench/results/healing.json.

Scenarios (all on the real code path: embedded nats-server, real PolicyGate with the default
policy and guards, real child processes, stand-in NixOS executables):

1. ``kill9``: a supervised child (an HTTP server) and the embedded nats-server are killed with
   ``kill -9`` N times each; time from the kill to healthy again (new pid answering its health
   probe), default intervals (watch 0.2 s, probe 1 s). Peer: the usual Kubernetes liveness defaults
   (periodSeconds 10 x failureThreshold 3) need ~30 s just to detect; that figure is the documented
   default, not measured here (no Kubernetes on this machine).
2. ``crashloop``: a service that crashes one second after every start, for ``--crash-seconds``
   (300 = 5 minutes, real time). Counts restarts (must stay within the policy's attempts budget),
   escalations to ASK_FIRST (must be exactly one) and notifications (must be <= 3).
   ``--compress K`` runs the policy/healer clock K times faster than real time (the guards take a
   clock), to try the scenario quickly; the reported run uses K = 1.
3. ``bad_generation``: ``hydra nixos switch`` to a generation whose activation fails units
   (exit code 4): time from the switch to rolled back and healthy, with the stand-ins.

Usage: ``.venv/bin/python bench/healing.py [--kills 10] [--crash-seconds 300] [--compress 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hydra_os.bus.client import Bus  # noqa: E402
from hydra_os.bus.embedded import EmbeddedNats  # noqa: E402
from hydra_os.config import BusConfig  # noqa: E402
from hydra_os.events import EventLog  # noqa: E402
from hydra_os.healing.context import HealingContext  # noqa: E402
from hydra_os.healing.healer import Healer  # noqa: E402
from hydra_os.healing.incidents import IncidentStore  # noqa: E402
from hydra_os.healing.registry import discover_checks, discover_fixups  # noqa: E402
from hydra_os.healing.supervisor import ChildProcess, EmbeddedBusChild, ProcessSupervisor  # noqa: E402
from hydra_os.nixos.ledger import FailedRevisions  # noqa: E402
from hydra_os.nixos.switch import SafeSwitch  # noqa: E402
from hydra_os.notify import LogFileNotifier  # noqa: E402
from hydra_os.policy.approvals import ApprovalStore  # noqa: E402
from hydra_os.policy.engine import PolicyEngine  # noqa: E402
from hydra_os.policy.gate import PolicyGate  # noqa: E402
from hydra_os.policy.guards.maintenance import MaintenanceSchedule  # noqa: E402
from hydra_os.policy.loader import default_policy  # noqa: E402
from hydra_os.policy.receipts import Receipts  # noqa: E402
from hydra_os.sections.healing import ChildSpec, HealingConfig  # noqa: E402
from hydra_os.sections.policy import PolicyConfig  # noqa: E402


def child_argv(port: int, die_after: float | None = None) -> list[str]:
    code = (
        "import http.server,threading,os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def log_message(self,*a): pass\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length','2'); self.end_headers();"
        " self.wfile.write(b'ok')\n"
        "http.server.ThreadingHTTPServer.allow_reuse_address=True\n"
        f"s=http.server.ThreadingHTTPServer(('127.0.0.1',{port}),H)\n"
        f"d={die_after!r}\n"
        "if d: threading.Timer(d, lambda: os._exit(3)).start()\n"
        "s.serve_forever()\n"
    )
    return [sys.executable, "-c", code]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Clock:
    """Real time, or real time sped up ``k`` times (for the guards and the healer)."""

    def __init__(self, k: float) -> None:
        self.k, self.t0, self.m0 = k, time.time(), time.monotonic()

    def __call__(self) -> float:
        return self.t0 + (time.monotonic() - self.m0) * self.k


async def make_gate(bus: Bus, clock: Clock, **policy: Any) -> PolicyGate:
    events = EventLog(bus, "bench")
    await events.start()
    cfg = PolicyConfig(**policy)
    gate = PolicyGate("bench", PolicyEngine(default_policy()), Receipts(events), cfg,
                      MaintenanceSchedule(cfg.maintenance, clock=clock), clock=clock)
    gate.approvals = await ApprovalStore.open(bus, clock)
    return gate


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def wait(pred: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("condition not reached")


async def bench_kill9(tmp: Path, kills: int) -> dict[str, Any]:
    results: dict[str, list[float]] = {"engine_child": [], "embedded_bus": []}
    async with EmbeddedNats(tmp / "nats") as srv:
        assert srv.url
        async with Bus([srv.url], BusConfig(reconnect_wait=0.1), name="bench") as bus:
            await bus.ensure_topology(3.0)
            # N kills a second apart would (by design) exhaust the default 3 attempts per 15 min and count
            # as flapping, and escalate; this scenario measures the restart path, so it allows more
            # attempts, no backoff, and a flap history long enough not to trip
            gate = await make_gate(bus, Clock(1.0), max_attempts=1000, backoff_base=0.0, hourly_budget=1000,
                                   flap_history=100)
            cfg = HealingConfig()  # default intervals
            port = free_port()
            sup = ProcessSupervisor(watch_interval=cfg.watch_interval_s, probe_interval=cfg.probe_interval_s,
                                    probe_failures=cfg.probe_failures)
            sup.add(ChildProcess(ChildSpec(name="engine", kind="engine", argv=child_argv(port),
                                           health_url=f"http://127.0.0.1:{port}/"), tmp / "logs"))
            sup.add(EmbeddedBusChild(srv), owned=False)
            hctx = HealingContext(cfg, "bench", tmp, bus=bus, supervisor=sup)
            healer = Healer(hctx, gate, IncidentStore(None), LogFileNotifier(tmp / "notes.log"),
                            discover_checks(), discover_fixups())
            await sup.start()
            await healer.start()
            try:
                for name, key in (("engine", "engine_child"), ("bus", "embedded_bus")):
                    for _ in range(kills):
                        await asyncio.sleep(1.0)
                        before = sup.state(name)
                        t0 = time.monotonic()
                        os.kill(before.pid or 0, signal.SIGKILL)
                        await wait(lambda n=name, b=before: sup.state(n).restarts == b.restarts + 1
                                   and sup.state(n).healthy, 30)
                        if name == "bus":
                            await wait(lambda: bus.status.connected, 30)
                        results[key].append(time.monotonic() - t0)
            finally:
                await healer.stop()
                await sup.stop()
    return {k: {"n": len(v), "p50_s": round(statistics.median(v), 3), "p90_s": round(pct(v, 90), 3),
                "max_s": round(max(v), 3)} for k, v in results.items()}


async def bench_crashloop(tmp: Path, seconds: float, compress: float) -> dict[str, Any]:
    clock = Clock(compress)
    async with EmbeddedNats(tmp / "nats2") as srv:
        assert srv.url
        async with Bus([srv.url], BusConfig(), name="bench2") as bus:
            await bus.ensure_topology(3.0)
            gate = await make_gate(bus, clock)
            cfg = HealingConfig()
            port = free_port()
            sup = ProcessSupervisor(watch_interval=cfg.watch_interval_s, probe_interval=cfg.probe_interval_s)
            sup.add(ChildProcess(ChildSpec(name="crashy", argv=child_argv(port, die_after=1.0),
                                           health_url=f"http://127.0.0.1:{port}/"), tmp / "logs2"))
            notes = LogFileNotifier(tmp / "crash-notes.log")
            store = IncidentStore(tmp / "crash-incidents.json")
            healer = Healer(HealingContext(cfg, "bench", tmp, bus=bus, supervisor=sup), gate, store, notes,
                            discover_checks(), discover_fixups(), clock=clock)
            await sup.start()
            await healer.start()
            t0 = time.monotonic()
            try:
                await asyncio.sleep(seconds / compress)
            finally:
                await healer.stop()
                await sup.stop()
            assert gate.approvals is not None
            approvals = [a for a in await gate.approvals.list() if a.node == "bench"]
    incidents = store.all()
    levels = [a.level for i in incidents for a in i.actions]
    return {
        "simulated_seconds": seconds, "compress": compress, "wall_s": round(time.monotonic() - t0, 1),
        "crash_every_s": 1.0,
        "restarts": sup.state("crashy").restarts,
        "restart_budget": {"max_attempts": gate.config.max_attempts, "window_s": gate.config.attempt_window,
                           "hourly_budget": gate.config.hourly_budget},
        "incidents": len(incidents),
        "escalated_incidents": sum(1 for i in incidents if i.escalated),
        "approvals_requested": len(approvals),
        "ask_first_decisions": levels.count("ASK_FIRST"),
        "notifications": len(notes.read()),
        "outcomes": dict(gate.counts),
    }


async def bench_bad_generation(tmp: Path, runs: int) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from tests.standins.nixsim import NixSim

    sim = NixSim(tmp / "nix")
    os.environ.update(sim.env())
    first = sim.install_first()
    times: list[float] = []
    for i in range(runs):
        sw = SafeSwitch(sim.config(), FailedRevisions(tmp / "failed.json"), tmp / "work",
                        notifier=LogFileNotifier(tmp / "nix-notes.log"), node_id="bench")
        sim.describe(f"rev-bad-{i}", failed_units=["hydra-vllm.service"])
        t0 = time.monotonic()
        out = await sw.switch()
        unit = json.loads((sim.systemctl_dir / "units/hydra-vllm.service.json").read_text())
        assert out.status == "rolled_back" and sim.current() == first and unit["ActiveState"] == "active"
        times.append(time.monotonic() - t0)
    return {"n": runs, "p50_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
            "note": "switch -> build -> test (exit 4) -> previous re-activated, units active again"}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--crash-seconds", type=float, default=300.0)
    ap.add_argument("--compress", type=float, default=1.0)
    ap.add_argument("--nix-runs", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        kill9 = await bench_kill9(tmp, a.kills)
        bad = await bench_bad_generation(tmp, a.nix_runs)
        crash = await bench_crashloop(tmp, a.crash_seconds, a.compress)
    result = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}",
        "kill9_to_healthy": kill9,
        "peer_kubernetes_liveness_defaults": {"detect_s": 30.0, "source": "periodSeconds=10 x failureThreshold=3 "
                                              "(documented defaults, not measured here)"},
        "crash_every_second": crash,
        "bad_generation_to_rolled_back": bad,
    }
    out = REPO / "bench" / "results" / "healing.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"{'scenario':38} {'n':>4} {'p50 s':>8} {'max s':>8}")
    for k, v in kill9.items():
        print(f"{'kill -9 -> healthy: ' + k:38} {v['n']:>4} {v['p50_s']:>8.3f} {v['max_s']:>8.3f}")
    print(f"{'k8s liveness defaults (detect only)':38} {'-':>4} {30.0:>8.3f} {'-':>8}")
    print(f"{'bad generation -> rolled back':38} {bad['n']:>4} {bad['p50_s']:>8.3f} {bad['max_s']:>8.3f}")
    print(f"crash every 1 s for {crash['simulated_seconds']:.0f} s (compress x{crash['compress']:g}): "
          f"restarts {crash['restarts']}, escalated incidents {crash['escalated_incidents']}, "
          f"approvals {crash['approvals_requested']}, notifications {crash['notifications']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
