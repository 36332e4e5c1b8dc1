"""Mission Control in a real browser: Debian's headless Chromium driven by Playwright against a real
daemon. Sign in, see the node, approve a parked action and watch it run in the live feed, deny
another, use a phone link once (the second use is refused), cancel a task, search memory, sign out;
Ask's answer growing on the page while the engine behind the gateway still writes, and an answer that
breaks off ending in the daemon's one-line error; cookie flags and CSRF from the browser; axe-core
finds no serious or critical violation; screenshots at 390 px and 1280 px are written to
``test-artifacts/ui/`` (git-ignored)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from hydra_os.policy.approval_links import Verb
from tests.helpers import REPO, DaemonProc
from tests.inference.test_gateway_e2e import Standin
from tests.policy.nodes import wait_until
from tests.ui.rig import ENGINE_MODEL, api, control, model_up, parker, phone_link, start_daemon

CHROMIUM = "/usr/bin/chromium"
try:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # the test extra is not installed
    async_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"no Chromium at {CHROMIUM} (apt install chromium)"),
    pytest.mark.skipif(async_playwright is None, reason="playwright / axe-playwright-python not installed"),
]
ARTIFACTS = REPO / "test-artifacts" / "ui"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def engine() -> Iterator[Standin]:
    s = Standin(ENGINE_MODEL, "sa")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, engine: Standin) -> Iterator[DaemonProc]:
    d = start_daemon(tmp_path_factory.mktemp("ui-browser"), engine_url=engine.url)
    yield d
    d.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        await b.close()


async def _sign_in(page: Page, d: DaemonProc) -> None:
    await page.goto(d.api_url + "/ui/")
    await expect(page).to_have_url(d.api_url + "/ui/login")
    await page.get_by_label("API token or UI password").fill(d.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()


async def _axe(page: Page, where: str) -> None:
    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{where}: " + "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in bad)


async def _shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_owner_signs_in_approves_denies_cancels_searches_signs_out(daemon: DaemonProc,
                                                                        browser: Browser) -> None:
    d = daemon
    async with api(d) as c:  # something to find in memory (the memory node opens its stores at start)
        for _ in range(60):
            r = await c.post("/v1/memory/remember", json={"text": "The garage door code is kept in the blue binder",
                                                         "extract": False})
            if r.status_code == 200:
                break
            await asyncio.sleep(1)
        assert r.status_code == 200, r.text
        task = (await c.post("/v1/tasks", json={"kind": "ui.test.wait", "title": "nightly photo sort"})).json()["task"]
        assert (await c.post("/v1/backups", json={}, timeout=300)).json()["status"] == "succeeded"  # for the overview

    ctx = await browser.new_context(viewport=PHONE)
    page = await ctx.new_page()
    await _sign_in(page, d)
    cookie = next(k for k in await ctx.cookies() if k["name"] == "hydra_ui")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] != d.token
    await expect(page.locator('[data-node="mc"]')).to_contain_text("up")
    await expect(page.locator("#backup")).to_contain_text("OK")
    await _axe(page, "overview")
    await _shoot(page, "overview-390")

    # a POST from the page's own script without the CSRF token is refused
    status = await page.evaluate("fetch('/ui/healing/run', {method: 'POST', body: new URLSearchParams({csrf: 'x'})})"
                                 ".then(r => r.status)")
    assert status == 403

    async with parker(d) as p:
        keep, drop = await p.park("archival:2019"), await p.park("archival:2020")
        feed = await ctx.new_page()
        await feed.goto(d.api_url + "/ui/feed")
        await expect(feed.locator("#feed-state")).to_contain_text("Live")
        await expect(feed.locator("#audit-state")).to_contain_text("Audit chain verified up to seq", timeout=30_000)

        await page.get_by_role("link", name="Approvals").click()
        card = page.locator(f'[data-approval="{keep}"]')
        await expect(card).to_contain_text("delete archival:2019")
        await _axe(page, "approvals")
        await _shoot(page, "approvals-390")
        await card.get_by_role("button", name="Approve").click()
        await expect(page.locator(".flash.ok")).to_contain_text(f"approval {keep}: approved")
        outcome = feed.locator("#feed li", has_text="policy.outcome").filter(has_text=keep)
        await expect(outcome).to_contain_text("succeeded", timeout=20_000)
        await _axe(feed, "feed")
        await _shoot(feed, "feed-390")
        await page.locator(f'[data-approval="{drop}"]').get_by_role("button", name="Deny").click()
        await expect(page.locator(".flash.ok")).to_contain_text(f"approval {drop}: denied")
        await wait_until(lambda: len(p.ran.ran) == 1, 20, what="the approved action ran")
        assert [a.target for a in p.ran.ran] == ["archival:2019"]

        # the phone: the link opens a confirmation; the button acts; the same link again is refused
        third = await p.park("archival:2021")
        phone = await browser.new_context(viewport=PHONE)  # no session: the link is the capability
        tab = await phone.new_page()
        link = phone_link(d, third, Verb.APPROVE, time.time() + 600)
        await tab.goto(link)
        await _axe(tab, "phone link")
        await tab.get_by_role("button", name="Approve this action").click()
        await expect(tab.locator(".flash.ok")).to_contain_text("is now approved")
        await tab.goto(link)
        await expect(tab.locator(".flash.error")).to_contain_text("already used")
        await wait_until(lambda: len(p.ran.ran) == 2, 20, what="the phone-approved action ran")
        await phone.close()

    await page.get_by_role("link", name="Tasks").click()
    row = page.locator(f'[data-task="{task["id"]}"]')
    await _axe(page, "tasks")
    await row.get_by_role("button", name="Cancel").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"task {task['id']}: cancelled")

    await page.get_by_role("link", name="Memory").click()
    await page.get_by_label("Search memory").fill("where is the garage door code")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator(".hit").first).to_contain_text("blue binder", timeout=20_000)
    await _axe(page, "memory")

    desk = await browser.new_context(viewport=DESKTOP)
    await desk.add_cookies([cookie])  # the same session at desktop width
    wide = await desk.new_page()
    await wide.goto(d.api_url + "/ui/")
    await expect(wide.locator('[data-node="mc"]')).to_be_visible()
    await _shoot(wide, "overview-1280")
    await desk.close()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto(d.api_url + "/ui/approvals")
    await expect(page.locator(".flash.error")).to_contain_text("sign in first")
    await ctx.close()


async def test_ask_shows_the_answer_as_it_grows(daemon: DaemonProc, engine: Standin, browser: Browser) -> None:
    d = daemon
    await model_up(d)
    ctx = await browser.new_context(viewport=PHONE)
    page = await ctx.new_page()
    await _sign_in(page, d)
    await page.get_by_role("link", name="Ask", exact=True).click()
    box = page.get_by_label("Your request, in words")
    answer, meta, error = page.locator("#ask-answer"), page.locator("#ask-meta"), page.locator("#ask-error")

    # the engine writes three pieces, then stalls: they are on the page while the answer is still open
    await control(engine, {"defaults": {"tokens": 6, "token_interval": 0.1}, "script": [{"stall_after": 3}]})
    await box.fill("How warm is the greenhouse tonight?")
    await page.get_by_role("button", name="Send").click()
    await expect(answer).to_have_text("sa-t0 sa-t1 sa-t2", timeout=30_000)
    assert await meta.text_content() == "" and await error.is_hidden()  # no reply yet: still streaming
    await _shoot(page, "ask-growing-390")
    # the gateway cuts the stalled engine (router.read_timeout): the daemon's one line ends the answer
    await expect(error).to_contain_text("sent nothing for 4s", timeout=30_000)
    await expect(answer).to_have_text("sa-t0 sa-t1 sa-t2")

    await control(engine, {"defaults": {"tokens": 4, "token_interval": 0.2}})
    async with asyncio.timeout(30):  # the gateway cools the engine it cut for a moment
        while True:
            await box.fill("How cold is the cellar?")
            await page.get_by_role("button", name="Send").click()
            await expect(page.locator("#ask-reply")).to_have_attribute("aria-busy", "false", timeout=30_000)
            if "answered" in (await meta.text_content() or ""):
                break
            await asyncio.sleep(1)
    await expect(answer).to_have_text("sa-t0 sa-t1 sa-t2 sa-t3")
    await expect(error).to_be_hidden()
    await _axe(page, "ask")
    await _shoot(page, "ask-390")
    await ctx.close()
