"""What the briefing's creative thumbnails cost: one ComfyUI-sized PNG (832x1216 sprite, 1216x832
background, as the stand-in makes them) read, downscaled with Pillow and encoded as a JPEG data URI.

    .venv/bin/python bench/briefing_thumbnails.py [--images 40] [--px 160]

Prints the median milliseconds and bytes per thumbnail and writes bench/results/briefing_thumbnails.json.
The machine is shared (2 cores, other agents' work ran beside it): read the figures as orders of magnitude.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.creative.digest import thumbnail_uri  # noqa: E402
from pipelines.creative.images import BG_SIZE, SPRITE_SIZE  # noqa: E402
from tests.standins.comfyui import png_bytes  # noqa: E402

OUT = REPO / "bench" / "results" / "briefing_thumbnails.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--px", type=int, default=160)
    args = ap.parse_args()
    times, sizes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.images):
            p = Path(tmp) / f"{i}.png"
            p.write_bytes(png_bytes(i, *(SPRITE_SIZE if i % 2 else BG_SIZE)))
            paths.append(p)
        for p in paths:
            t0 = time.perf_counter()
            uri = thumbnail_uri(p, args.px)
            times.append(time.perf_counter() - t0)
            sizes.append(len(uri))
    result = {"bench": "briefing_thumbnails", "host": platform.node(), "cpus": os.cpu_count(),
              "load_avg_1m": round(os.getloadavg()[0], 1), "images": args.images, "px": args.px,
              "ms_per_thumbnail_median": round(statistics.median(times) * 1000, 2),
              "data_uri_bytes_median": int(statistics.median(sizes)),
              "note": "shared 2-core VM; other agents' tests ran beside it",
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['ms_per_thumbnail_median']} ms per thumbnail (median of {args.images}), "
          f"{result['data_uri_bytes_median']} bytes per data URI at {args.px} px; load {result['load_avg_1m']}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
