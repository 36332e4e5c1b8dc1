"""Mission Control benchmark: page weight, time to first render, and the gateway's added latency
with and without the page mounted — one run, side by side.

- Page weight: bytes of the signed-in overview page (``/ui/``) and every asset it loads (our one CSS
  and one JS file), as served (the node does not compress).
- Time to first render: Debian's Chromium (``/usr/bin/chromium``) via Playwright opens the overview
  ``--renders`` times in fresh tabs with the session cookie; first-contentful-paint and the
  navigation's responseStart / domContentLoaded from the browser's own Performance API; medians.
- Gateway added latency: two real gateway daemons routing to the same stand-in OpenAI backend, one
  with ``[ui] enabled = true`` (the default) and one without; sequential non-streaming chat
  completions interleaved per round across direct / with-UI / without-UI (bench/router.py's
  ``sequential``); p50 and the added p50 over direct.

Prints a table and writes bench/results/ui.json.

    .venv/bin/python bench/ui.py [--renders 15] [--seq 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import async_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.router import Backend, pct, sequential, start_hydra  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def sign_in(base: str, token: str) -> str:
    r = httpx.post(base + "/ui/login", data={"secret": token}, headers={"origin": base}, timeout=30)
    assert r.status_code == 303, r.text
    return str(r.cookies["hydra_ui"])


def page_weight(base: str, sid: str) -> dict[str, Any]:
    with httpx.Client(base_url=base, cookies={"hydra_ui": sid}, timeout=30) as c:
        html = c.get("/ui/")
        assert html.status_code == 200, html.text
        assets = re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', html.text)
        sizes = {a: len(c.get(a).content) for a in assets}
    return {"html_bytes": len(html.content), "assets": sizes, "total_bytes": len(html.content) + sum(sizes.values()),
            "requests": 1 + len(sizes)}


async def first_render(base: str, sid: str, n: int) -> dict[str, Any]:
    host = base.split("//", 1)[1].split(":")[0]
    fcp: list[float] = []
    ttfb: list[float] = []
    dcl: list[float] = []
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        ctx = await b.new_context(viewport={"width": 390, "height": 844})
        await ctx.add_cookies([{"name": "hydra_ui", "value": sid, "domain": host, "path": "/ui"}])
        for i in range(n + 2):
            page = await ctx.new_page()
            await page.goto(base + "/ui/", wait_until="load")
            # the paint entry is recorded a frame after load
            await page.wait_for_function("() => performance.getEntriesByName('first-contentful-paint').length > 0",
                                         timeout=10_000)
            t = await page.evaluate("""() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const paint = performance.getEntriesByName('first-contentful-paint')[0];
                return {fcp: paint ? paint.startTime : null, ttfb: nav.responseStart,
                        dcl: nav.domContentLoadedEventEnd};
            }""")
            await page.close()
            if i < 2 or t["fcp"] is None:
                continue  # warm-up: the browser's first start, the daemon's first render of the template
            fcp.append(t["fcp"])
            ttfb.append(t["ttfb"])
            dcl.append(t["dcl"])
        await b.close()
    return {"runs": len(fcp), "fcp_p50_ms": round(statistics.median(fcp), 1), "fcp_p90_ms": round(pct(fcp, 90), 1),
            "ttfb_p50_ms": round(statistics.median(ttfb), 1), "dcl_p50_ms": round(statistics.median(dcl), 1)}


def gateway_rows(seq: dict[str, list[float]]) -> dict[str, Any]:
    d50 = statistics.median(seq["direct"])
    return {name: {"seq_p50_ms": round(statistics.median(xs), 3), "seq_p99_ms": round(pct(xs, 99), 3),
                   "added_p50_ms": round(statistics.median(xs) - d50, 3)} for name, xs in seq.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--renders", type=int, default=15, help="overview loads in the browser (medians)")
    ap.add_argument("--seq", type=int, default=300, help="sequential chat completions per target")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ui.json")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hydra-bench-ui-"))
    backend = Backend(16, 0.0)
    daemons = []
    try:
        with_ui = start_hydra(tmp, backend.url, "with-ui", ui=True)
        daemons.append(with_ui)
        no_ui = start_hydra(tmp, backend.url, "no-ui", ui=False)
        daemons.append(no_ui)
        assert httpx.get(no_ui.api_url + "/ui/login", timeout=10).status_code == 404  # really not mounted
        sid = sign_in(with_ui.api_url, with_ui.token)
        weight = page_weight(with_ui.api_url, sid)
        render = asyncio.run(first_render(with_ui.api_url, sid, a.renders))
        targets = {
            "direct": (backend.url, {"Content-Type": "application/json"}),
            "hydra_with_ui": (with_ui.api_url + "/v1", {"Content-Type": "application/json",
                                                        "Authorization": f"Bearer {with_ui.token}"}),
            "hydra_without_ui": (no_ui.api_url + "/v1", {"Content-Type": "application/json",
                                                         "Authorization": f"Bearer {no_ui.token}"}),
        }
        gateway = gateway_rows(asyncio.run(sequential(targets, a.seq)))
    finally:
        for d in daemons:
            d.stop()
        backend.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"params": {k: str(v) for k, v in vars(a).items()}, "cpus": os.cpu_count(),
              "loadavg_at_end": os.getloadavg(), "page_weight": weight, "first_render": render,
              "router_overhead": gateway}
    parts = ", ".join(f"{k.rsplit('/', 1)[1]} {v}" for k, v in weight["assets"].items())
    print(f"page weight: {weight['total_bytes']} bytes in {weight['requests']} requests "
          f"(html {weight['html_bytes']}, {parts})")
    print(f"first render (390 px, {render['runs']} loads): FCP p50 {render['fcp_p50_ms']} ms, p90 "
          f"{render['fcp_p90_ms']} ms; TTFB p50 {render['ttfb_p50_ms']} ms; "
          f"DOMContentLoaded p50 {render['dcl_p50_ms']} ms")
    print(f"{'gateway (sequential chat)':<28}{'p50 ms':>10}{'p99 ms':>10}{'added p50':>12}")
    for name, row in gateway.items():
        print(f"{name:<28}{row['seq_p50_ms']:>10.3f}{row['seq_p99_ms']:>10.3f}{row['added_p50_ms']:>12.3f}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
