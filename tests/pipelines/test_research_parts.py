"""Research sources, extraction, ranking and planning against the stand-in source server (real HTTP)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hydra_os.intake.llm import OpenAIChat
from pipelines.research.errors import SourceError
from pipelines.research.extract import fetch_text
from pipelines.research.model import Hit
from pipelines.research.plan import plan_queries, plan_with_model
from pipelines.research.rank import canonical_url, rank_hits
from pipelines.research.sources.arxiv import ArxivSource
from pipelines.research.sources.feeds import FeedSource
from pipelines.research.sources.github import GithubReleasesSource
from pipelines.research.sources.local import LocalFolderSource
from pipelines.research.sources.searxng import SearxngSource
from tests.standins.sources.server import SourceServer


async def test_each_source_speaks_its_protocol(sources: SourceServer, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "exllamav3-notes.md").write_text("# My ExLlamaV3 notes\n\nEXL3 at 4 bpw fits a 70B on two GPUs.\n")
    (docs / "garden.txt").write_text("Tomatoes need sun.\n")
    async with httpx.AsyncClient(timeout=5) as http:
        searx = await SearxngSource(http, f"{sources.base}/searxng").search("ExLlamaV3 release", 5)
        assert [h.title for h in searx][:2] == ["ExLlamaV3 0.1 released", "Benchmarking ExLlamaV3 against llama.cpp"]
        assert all(h.source == "searxng" and h.query == "ExLlamaV3 release" for h in searx)
        arxiv = await ArxivSource(http, f"{sources.base}/arxiv/api/query").search("ExLlamaV3 quantisation", 5)
        assert len(arxiv) == 1 and arxiv[0].url == "http://arxiv.org/abs/2611.01234v1"
        assert arxiv[0].text and "trellis coding" in arxiv[0].text.lower()
        feeds = FeedSource(http, [f"{sources.base}/feeds/news.rss", f"{sources.base}/feeds/blog.atom"])
        found = await feeds.search("ExLlamaV3", 5)
        assert {h.title for h in found} == {"TabbyAPI adds ExLlamaV3 backend", "Running ExLlamaV3 in a homelab"}
        gh = await GithubReleasesSource(http, f"{sources.base}/github", ["turboderp-org/exllamav3"]).search(
            "ExLlamaV3 tensor parallel", 5)
        assert [h.title for h in gh] == ["turboderp-org/exllamav3 v0.0.5"]  # the draft is left out
    local = await LocalFolderSource([docs]).search("ExLlamaV3", 5)
    assert [h.title for h in local] == ["My ExLlamaV3 notes"] and local[0].url.startswith("file://")
    # feeds are read once per run however many queries ask
    assert sources.log.count("/feeds/news.rss") == 1


async def test_failing_sources_raise_source_errors(sources: SourceServer) -> None:
    sources.fail.append("/searxng/")
    async with httpx.AsyncClient(timeout=5) as http:
        with pytest.raises(SourceError, match="HTTP 503"):
            await SearxngSource(http, f"{sources.base}/searxng").search("x", 3)
        with pytest.raises(SourceError, match="unreachable"):
            await ArxivSource(http, "http://127.0.0.1:9/api/query").search("x", 3)
        gh = GithubReleasesSource(http, f"{sources.base}/github", ["nobody/nothing"])
        with pytest.raises(SourceError, match="404"):
            await gh.search("anything", 3)


async def test_extraction_keeps_the_article_and_drops_the_boilerplate(sources: SourceServer) -> None:
    hit = Hit(url=f"{sources.base}/pages/exllamav3-benchmarks.html", title="", source="searxng")
    async with httpx.AsyncClient(timeout=5) as http:
        doc = await fetch_text(http, hit, 1_000_000)
        assert doc.fetched and "31 tokens per second" in doc.text
        for junk in ("Cookie settings", "Sign in", "Ten gadgets"):
            assert junk not in doc.text
        assert doc.hit.title.startswith("Benchmarking ExLlamaV3")
        missing = await fetch_text(http, Hit(url=f"{sources.base}/pages/nope.html", title="t", snippet="s",
                                             source="searxng"), 1_000_000)
        assert not missing.fetched and missing.error == "HTTP 404" and missing.text == "s"


def test_url_forms_and_titles_dedupe_and_relevant_ranks_first() -> None:
    assert canonical_url("http://www.Example.com/a/?utm_source=x&b=1#frag") == "https://example.com/a?b=1"
    assert canonical_url("https://arxiv.org/pdf/2611.01234v2") == canonical_url("http://arxiv.org/abs/2611.01234v1")
    hits = [
        Hit(url="http://x.test/cook", title="How to cook pasta", snippet="boil water", source="searxng", query="q1"),
        Hit(url="http://x.test/exl?utm_source=a", title="ExLlamaV3 released", snippet="short", source="searxng",
            query="q1"),
        Hit(url="https://www.x.test/exl/", title="ExLlamaV3 released", snippet="a longer snippet about ExLlamaV3",
            source="feed", query="q2"),
    ]
    ranked = rank_hits("ExLlamaV3 release", hits)
    assert len(ranked) == 2 and ranked[0].snippet == "a longer snippet about ExLlamaV3"
    assert ranked[0].score > ranked[1].score


async def test_planning_with_and_without_a_model(chat: OpenAIChat) -> None:
    assert plan_queries("the latest ExLlamaV3 developments", 4) == [
        "ExLlamaV3 developments", "exllamav3", "exllamav3 release", "exllamav3 benchmark"]
    assert await plan_with_model(chat, "ExLlamaV3", 4) == ["ExLlamaV3", "ExLlamaV3 release notes"]
    down = OpenAIChat("http://127.0.0.1:9/v1", timeout_s=1)
    assert await plan_with_model(down, "ExLlamaV3", 4) is None
    await down.close()
