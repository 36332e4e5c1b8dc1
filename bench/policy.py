"""Policy gate numbers, side by side in one run on one embedded nats-server.

- `engine.decide` alone (rules only, defaults: 13 rules) vs `gate.decide` (rules + guards);
- `gate.submit` of an AUTONOMOUS action (3 receipts published to HYDRA_EVENTS, executor no-op);
- approval round trip: ASK_FIRST submit -> approve (KV CAS from a second connection) -> the
  parking node's runner claims and runs it -> its notifier is called;
- `hydra audit verify` core (read + verify) over the stream written by the above;
- one event published by `EventLog` without and with the persisted chain head (file fsync + KV copy,
  `hydra_os/policy/chainhead.py`), interleaved rounds.

Medians of N runs. Prints a table and writes bench/results/policy.json.
Run: .venv/bin/python bench/policy.py [--runs 200]
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
from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.config import BusConfig
from hydra_os.events import EventLog
from hydra_os.policy.approvals import ApprovalStore
from hydra_os.policy.audit import read_events, verify_chains
from hydra_os.policy.chainhead import ChainHeadStore
from hydra_os.policy.model import Action, Outcome
from hydra_os.sections.policy import PolicyConfig
from tests.policy.nodes import start_node


def med_us(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e6, 1)


async def run(runs: int) -> dict[str, Any]:
    async with EmbeddedNats(Path(tempfile.mkdtemp()) / "nats") as srv:
        assert srv.url
        async with Bus([srv.url], BusConfig()) as bus, Bus([srv.url], BusConfig()) as bus2:
            await bus.ensure_topology(3.0)
            cfg = PolicyConfig(hourly_budget=10**6, max_attempts=10**6, backoff_base=0)
            node = await start_node(bus, "bench", config=cfg)

            async def noop(_: Action) -> dict[str, Any]:
                return {}

            node.gate.register_executor("*", noop)
            other = ApprovalStore(await bus2.kv("hydra_approvals"))
            action = Action(kind="service.restart", target="unit:ollama.service")

            decide, gate_decide, submit, roundtrip = [], [], [], []
            for _ in range(runs):
                t = time.perf_counter()
                node.gate.engine.decide(action)
                decide.append(time.perf_counter() - t)
                t = time.perf_counter()
                node.gate.decide(action)
                gate_decide.append(time.perf_counter() - t)
            for i in range(runs):
                t = time.perf_counter()
                await node.gate.submit(action.model_copy(update={"target": f"unit:s{i}"}))
                submit.append(time.perf_counter() - t)
            ran = asyncio.Event()

            async def told(_: Outcome) -> None:
                ran.set()

            node.gate.add_notifier(told)  # called once the approved action has run
            for i in range(max(runs // 4, 5)):
                ran.clear()
                t = time.perf_counter()
                out = await node.gate.submit(Action(kind="data.delete", target=f"archival:{i}"))
                assert out.approval_id
                await other.approve(out.approval_id, "bench")
                await asyncio.wait_for(ran.wait(), 10)
                roundtrip.append(time.perf_counter() - t)
            t = time.perf_counter()
            events = await read_events(bus)
            reports = verify_chains(events)
            verify_s = time.perf_counter() - t
            assert all(r.ok for r in reports.values())
            await node.stop()
            plain, headed = EventLog(bus, "plain"), EventLog(
                bus, "headed", head_store=ChainHeadStore(Path(tempfile.mkdtemp()), bus, "headed"))
            await plain.start()
            await headed.start()
            bare_pub: list[float] = []
            head_pub: list[float] = []
            for i in range(runs):  # interleaved, so both see the same load
                for log, samples in ((plain, bare_pub), (headed, head_pub)):
                    t = time.perf_counter()
                    await log.publish("bench.event", {"i": i})
                    samples.append(time.perf_counter() - t)
    return {
        "runs": runs,
        "engine_decide_us": med_us(decide),
        "gate_decide_us": med_us(gate_decide),
        "submit_autonomous_ms": round(statistics.median(submit) * 1e3, 2),
        "approval_roundtrip_ms": round(statistics.median(roundtrip) * 1e3, 2),
        "audit_verify_events": len(events),
        "audit_verify_s": round(verify_s, 3),
        "event_publish_ms": round(statistics.median(bare_pub) * 1e3, 2),
        "event_publish_with_head_ms": round(statistics.median(head_pub) * 1e3, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    res = asyncio.run(run(ap.parse_args().runs))
    print(f"{'figure':32} {'median':>12}")
    print(f"{'engine.decide (rules only)':32} {res['engine_decide_us']:>10} us")
    print(f"{'gate.decide (rules + guards)':32} {res['gate_decide_us']:>10} us")
    print(f"{'gate.submit AUTONOMOUS':32} {res['submit_autonomous_ms']:>10} ms")
    print(f"{'ASK_FIRST -> approve -> done':32} {res['approval_roundtrip_ms']:>10} ms")
    print(f"{'audit verify':32} {res['audit_verify_s']:>10} s  ({res['audit_verify_events']} events)")
    print(f"{'event publish':32} {res['event_publish_ms']:>10} ms")
    print(f"{'event publish + chain head':32} {res['event_publish_with_head_ms']:>10} ms")
    out = Path(__file__).resolve().parent / "results" / "policy.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
