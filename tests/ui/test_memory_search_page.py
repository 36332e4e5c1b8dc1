"""The Memory page's search against a real daemon: each hit shows the passage's own text, where it came
from and when, and why it ranked — not the raw search result (a Python dict dumped into the page)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import DaemonProc, daemon_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProc]:
    env = daemon_env(HYDRA_NODE__ROLES="gateway,memory", HYDRA_LOG__LEVEL="INFO",
                     HYDRA_MEMORY__EMBED__BACKEND="hashing")
    d = DaemonProc("mem-page", tmp_path_factory.mktemp("ui-memory") / "state", env)
    d.start(timeout=90)
    yield d
    d.stop()


async def _remember(c: httpx.AsyncClient, text: str) -> None:
    for _ in range(60):  # the memory node opens its stores in the background
        r = await c.post("/v1/memory/remember", json={"text": text, "source": "owner", "extract": False})
        if r.status_code == 200:
            return
        await asyncio.sleep(1)
    raise AssertionError(r.text)


async def test_search_hits_show_the_passage_not_the_raw_result(daemon: DaemonProc) -> None:
    d = daemon
    headers = {"Authorization": f"Bearer {d.token}"}
    async with httpx.AsyncClient(base_url=d.api_url, headers=headers, timeout=30) as c:
        await _remember(c, "My favourite editor is Helix")
    async with httpx.AsyncClient(base_url=d.api_url, headers={"origin": d.api_url}, timeout=30) as browser:
        r = await browser.post("/ui/login", data={"secret": d.token})
        assert r.status_code == 303, r.text
        browser.cookies.set("hydra_ui", r.cookies["hydra_ui"])
        page = await browser.get("/ui/memory", params={"q": "which editor"})
    assert page.status_code == 200, page.text
    hit = page.text.split('<li class="card hit">', 1)[1].split("</li>", 1)[0]
    assert "<p>My favourite editor is Helix</p>" in hit, hit
    assert "passage" not in hit and "embedding_model" not in hit and "&#39;" not in hit, hit  # no dict dump
    assert "owner" in hit and "Score" in hit and "BM25 rank 1" in hit, hit
