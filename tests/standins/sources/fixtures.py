"""Fixture content served by the stand-in source server: pages with boilerplate, feeds, releases, papers."""

from __future__ import annotations

NAV = ("<header><nav><a href='/'>Home</a> | <a href='/blog'>Blog</a> | <a href='/about'>About us</a> | "
       "<a href='/login'>Sign in</a></nav></header>")
FOOT = ("<footer><p>Copyright 2026 Example Media. All rights reserved. Cookie settings. Privacy policy. "
        "Subscribe to our newsletter for weekly updates.</p></footer>")


def page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    aside = "<aside><h3>Related</h3><ul><li><a href='/x'>Ten gadgets you need</a></li></ul></aside>"
    return (f"<!DOCTYPE html><html><head><title>{title} | Example Media</title></head><body>{NAV}"
            f"<main><article><h1>{title}</h1>{body}</article></main>{aside}{FOOT}</body></html>")


PAGES: dict[str, tuple[str, list[str]]] = {
    "exllamav3-release": ("ExLlamaV3 0.1 released with a new quantisation format", [
        "The ExLlamaV3 project published its first release this week. The headline change is EXL3, a new "
        "quantisation format based on trellis coding that keeps perplexity close to the original model at "
        "around 4 bits per weight.",
        "According to the maintainer, ExLlamaV3 now supports tensor parallelism across several GPUs and a "
        "reworked cache that allows long contexts on consumer cards.",
        "TabbyAPI, the OpenAI-compatible server built on ExLlama, gained ExLlamaV3 support on the same day.",
    ]),
    "exllamav3-benchmarks": ("Benchmarking ExLlamaV3 against llama.cpp on a 70B model", [
        "We measured token generation speed of ExLlamaV3 and llama.cpp on two RTX 3090 cards with a 70B model.",
        "ExLlamaV3 reached 31 tokens per second at 4.0 bits per weight, while llama.cpp with a Q4_K_M file "
        "reached 24 tokens per second in the same setup.",
        "Prompt processing was faster on ExLlamaV3 as well, thanks to its fused attention kernels.",
    ]),
    "cooking-pasta": ("How to cook pasta perfectly", [
        "Bring a large pot of salted water to a boil and add the pasta.",
        "Stir occasionally and taste a minute before the time on the packet.",
    ]),
}

SEARX_RESULTS = [
    {"url": "{base}/pages/exllamav3-release.html?utm_source=searx", "title": "ExLlamaV3 0.1 released",
     "content": "ExLlamaV3 published its first release with the EXL3 quantisation format.",
     "publishedDate": "2026-11-18T10:00:00"},
    {"url": "{base}/pages/exllamav3-benchmarks.html", "title": "Benchmarking ExLlamaV3 against llama.cpp",
     "content": "Token generation speed of ExLlamaV3 and llama.cpp on a 70B model."},
    {"url": "{base}/pages/exllamav3-release.html", "title": "ExLlamaV3 0.1 released (mirror)",
     "content": "ExLlamaV3 release news."},
    {"url": "{base}/pages/cooking-pasta.html", "title": "How to cook pasta perfectly",
     "content": "Bring water to a boil."},
]

ARXIV_ENTRIES = [
    {"id": "2611.01234v1", "title": "EXL3: Trellis-Coded Quantisation for Fast Local Inference",
     "summary": "We present EXL3, the quantisation format of ExLlamaV3. Trellis coding at 2 to 8 bits per weight "
                "keeps accuracy close to the original model while decoding fast on consumer GPUs.",
     "published": "2026-11-10T00:00:00Z"},
]

RSS_ITEMS = [
    {"title": "TabbyAPI adds ExLlamaV3 backend", "link": "{base}/pages/exllamav3-release.html#tabby",
     "description": "TabbyAPI now serves ExLlamaV3 models.", "pubDate": "Wed, 18 Nov 2026 09:00:00 GMT"},
    {"title": "Weekend bread baking", "link": "{base}/pages/cooking-pasta.html",
     "description": "Sourdough tips.", "pubDate": "Sat, 14 Nov 2026 09:00:00 GMT"},
]

ATOM_ENTRIES = [
    {"title": "Running ExLlamaV3 in a homelab", "link": "{base}/pages/exllamav3-benchmarks.html",
     "summary": "Notes on ExLlamaV3 tensor parallelism on two GPUs.", "updated": "2026-11-17T08:00:00Z"},
]

RELEASES = {
    "turboderp-org/exllamav3": [
        {"name": "v0.0.5", "tag_name": "v0.0.5", "html_url": "https://github.com/turboderp-org/exllamav3/releases/tag/v0.0.5",
         "body": "ExLlamaV3 adds tensor-parallel inference and faster EXL3 kernels.",
         "published_at": "2026-11-15T12:00:00Z", "draft": False},
        {"name": "draft", "tag_name": "v0.0.6", "html_url": "x", "body": "draft", "published_at": None,
         "draft": True},
    ],
}
