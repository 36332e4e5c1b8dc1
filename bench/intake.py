"""Intake accuracy on the labelled request sets (tests/data/requests*.jsonl).

Rules only, always; and rules + model classification (for requests the rules are unsure about) when a
model answers at ``--llm-url`` (an OpenAI-compatible base URL ending in /v1, e.g. a Hydra gateway).
A row is correct when intent, kind (where labelled) and the time phrase kind all match. Prints a table
and writes bench/results/intake.json. Run: ``.venv/bin/python bench/intake.py [--llm-url URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hydra_os.chat.client import OpenAIChat  # noqa: E402
from hydra_os.intake.classify import classify_with_model  # noqa: E402
from hydra_os.intake.rules import AMBIGUOUS, classify  # noqa: E402
from hydra_os.intake.timeparse import TimeParser  # noqa: E402

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=ZoneInfo("Europe/Berlin"))
SETS = ["requests.jsonl", "requests_heldout.jsonl"]


def load(name: str) -> list[dict[str, Any]]:
    path = ROOT / "tests" / "data" / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def correct(row: dict[str, Any], intent: Any) -> bool:
    when = intent.when.kind if intent.when else None
    return bool(intent.intent == row["intent"] and (row["kind"] is None or intent.kind == row["kind"])
                and when == row["when"])


async def run_set(name: str, model: OpenAIChat | None) -> dict[str, Any]:
    parser = TimeParser("Europe/Berlin")
    rows = load(name)
    ok_rules = ok_model = asked = 0
    times: list[float] = []
    wrong: list[str] = []
    for row in rows:
        t0 = time.perf_counter()
        when = parser.parse(row["text"], NOW)
        intent = classify(row["text"], when)
        times.append((time.perf_counter() - t0) * 1e3)
        ok_rules += correct(row, intent)
        final = intent
        if model is not None and intent.confidence < AMBIGUOUS:
            asked += 1
            better = await classify_with_model(model, row["text"], intent)
            if better is not None:
                final = replace(better, when=when)
        good = correct(row, final)
        ok_model += good
        if not good:
            wrong.append(row["text"])
    out: dict[str, Any] = {"set": name, "rows": len(rows), "rules_correct": ok_rules,
                           "rules_accuracy": round(ok_rules / len(rows), 4),
                           "rules_ms_median": round(statistics.median(times), 4)}
    if model is not None:
        out.update(model_asked=asked, with_model_correct=ok_model, with_model_accuracy=round(ok_model / len(rows), 4))
    out["wrong"] = wrong
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llm-url", default=None, help="OpenAI-compatible base URL (…/v1) for model classification")
    ap.add_argument("--token", default=None, help="bearer token for --llm-url")
    ap.add_argument("--model", default="hydra/auto")
    args = ap.parse_args()
    model = None
    note = "no --llm-url given: rules only"
    if args.llm_url:
        model = OpenAIChat(args.llm_url, model=args.model, token=args.token)
        if not await model.available():
            note = f"no model answered at {args.llm_url}: rules only"
            await model.close()
            model = None
        else:
            note = f"model {args.model} at {args.llm_url}"
    results = [await run_set(n, model) for n in SETS]
    if model is not None:
        await model.close()
    print(f"intake accuracy ({note})")
    print(f"{'set':<26}{'rows':>6}{'rules':>10}{'rules ms p50':>14}" + (f"{'asked':>8}{'+model':>10}" if model else ""))
    for r in results:
        line = f"{r['set']:<26}{r['rows']:>6}{r['rules_accuracy']:>10.1%}{r['rules_ms_median']:>14.3f}"
        if model:
            line += f"{r['model_asked']:>8}{r['with_model_accuracy']:>10.1%}"
        print(line)
    out = ROOT / "bench" / "results" / "intake.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"now": NOW.isoformat(), "model": note, "results": results}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
