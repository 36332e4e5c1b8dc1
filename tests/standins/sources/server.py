"""A stand-in for the research pipeline's sources, on real HTTP (aiohttp.web):

- ``GET /searxng/search?q=..&format=json`` — SearXNG's JSON API (results whose words match the query)
- ``GET /arxiv/api/query?search_query=all:a AND all:b`` — arXiv's Atom API
- ``GET /feeds/news.rss``, ``GET /feeds/blog.atom`` — an RSS 2.0 and an Atom feed
- ``GET /github/repos/{owner}/{repo}/releases`` — GitHub's releases API
- ``GET /pages/{name}.html`` — article pages with navigation, asides and footers around the text

Scripting over HTTP: ``POST /_control {"delay": {"/pages/": 5}, "fail": ["/arxiv/"]}`` makes paths
with that prefix slow (seconds) or answer 503; ``GET /_log`` lists the paths requested;
``POST /_reset`` clears both. Run ``python -m tests.standins.sources.server [--port 0]`` (prints
``LISTENING <port>``) or in-process with ``async with SourceServer() as s``.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import sys
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.standins.aio import AioStandin
from tests.standins.sources import fixtures as fx


def _words(text: str) -> set[str]:
    return {w for w in "".join(c.lower() if c.isalnum() or c == "." else " " for c in text).split() if len(w) > 2}


@dataclass
class SourceServer(AioStandin):
    host: str = "127.0.0.1"
    port: int = 0
    delay: dict[str, float] = field(default_factory=dict)
    fail: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/searxng/search", self._searx)
        app.router.add_get("/arxiv/api/query", self._arxiv)
        app.router.add_get("/feeds/news.rss", self._rss)
        app.router.add_get("/feeds/blog.atom", self._atom)
        app.router.add_get("/github/repos/{owner}/{repo}/releases", self._releases)
        app.router.add_get("/pages/{name}.html", self._page)
        app.router.add_post("/_control", self._control)
        app.router.add_get("/_log", self._log)
        app.router.add_post("/_reset", self._reset)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/_"):
            self.log.append(path)
            for prefix, secs in self.delay.items():
                if path.startswith(prefix):
                    await asyncio.sleep(secs)
            if any(path.startswith(p) for p in self.fail):
                return web.json_response({"error": "scripted failure"}, status=503)
        return await handler(request)  # type: ignore[no-any-return]

    def _fill(self, s: str) -> str:
        return s.replace("{base}", self.base)

    async def _searx(self, request: web.Request) -> web.Response:
        if request.query.get("format") != "json":
            return web.Response(status=403, text="format not allowed")
        q = _words(request.query.get("q", ""))
        results = [{k: self._fill(v) if isinstance(v, str) else v for k, v in r.items()} for r in fx.SEARX_RESULTS
                   if q & _words(r["title"] + " " + r["content"])]
        return web.json_response({"query": request.query.get("q"), "results": results})

    async def _arxiv(self, request: web.Request) -> web.Response:
        wanted = {t.split(":", 1)[-1].lower() for t in request.query.get("search_query", "").split(" AND ")}
        entries = []
        for e in fx.ARXIV_ENTRIES:
            if wanted & _words(e["title"] + " " + e["summary"]):
                entries.append(
                    f"<entry><id>http://arxiv.org/abs/{e['id']}</id><title>{html.escape(e['title'])}</title>"
                    f"<summary>{html.escape(e['summary'])}</summary><published>{e['published']}</published>"
                    f"<link href='http://arxiv.org/abs/{e['id']}' rel='alternate' type='text/html'/></entry>")
        body = ("<?xml version='1.0' encoding='UTF-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
                f"<title>arXiv Query</title><id>http://arxiv.org/api/x</id>{''.join(entries)}</feed>")
        return web.Response(text=body, content_type="application/atom+xml")

    async def _rss(self, request: web.Request) -> web.Response:
        items = "".join(
            f"<item><title>{html.escape(i['title'])}</title><link>{html.escape(self._fill(i['link']))}</link>"
            f"<description>{html.escape(i['description'])}</description><pubDate>{i['pubDate']}</pubDate></item>"
            for i in fx.RSS_ITEMS)
        body = f"<?xml version='1.0'?><rss version='2.0'><channel><title>News</title>{items}</channel></rss>"
        return web.Response(text=body, content_type="application/rss+xml")

    async def _atom(self, request: web.Request) -> web.Response:
        entries = "".join(
            f"<entry><title>{html.escape(e['title'])}</title><link href='{html.escape(self._fill(e['link']))}'/>"
            f"<id>{html.escape(self._fill(e['link']))}</id><updated>{e['updated']}</updated>"
            f"<summary>{html.escape(e['summary'])}</summary></entry>" for e in fx.ATOM_ENTRIES)
        body = ("<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'><title>Blog</title>"
                f"<id>urn:blog</id><updated>2026-11-17T08:00:00Z</updated>{entries}</feed>")
        return web.Response(text=body, content_type="application/atom+xml")

    async def _releases(self, request: web.Request) -> web.Response:
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        if repo not in fx.RELEASES:
            return web.json_response({"message": "Not Found"}, status=404)
        return web.json_response(fx.RELEASES[repo])

    async def _page(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in fx.PAGES:
            return web.Response(status=404, text="not found")
        title, paras = fx.PAGES[name]
        return web.Response(text=fx.page(title, paras), content_type="text/html")

    async def _control(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.delay.update({str(k): float(v) for k, v in body.get("delay", {}).items()})
        self.fail.extend(str(p) for p in body.get("fail", []))
        return web.json_response({"delay": self.delay, "fail": self.fail})

    async def _log(self, request: web.Request) -> web.Response:
        return web.json_response(self.log)

    async def _reset(self, request: web.Request) -> web.Response:
        self.delay.clear()
        self.fail.clear()
        self.log.clear()
        return web.json_response({})


async def _main(port: int) -> None:
    async with SourceServer(port=port) as s:
        print(f"LISTENING {s.port}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    try:
        asyncio.run(_main(args.port))
    except KeyboardInterrupt:
        sys.exit(0)
