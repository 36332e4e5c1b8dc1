"""Mission Control over plain HTTP against a real daemon: sign-in, cookie flags, CSRF and Origin,
the bearer-only routes untouched, the throttle, and the phone links (GET never acts, one use)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from hydra_os.policy.approval_links import Verb
from tests.helpers import DaemonProc
from tests.policy.nodes import wait_until
from tests.ui.rig import PASSWORD, api, browser_client, csrf_of, parker, phone_link, sign_in, start_daemon

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProc]:
    d = start_daemon(tmp_path_factory.mktemp("ui-http"), secure_cookie=True, max_streams=3)
    yield d
    d.stop()


async def test_sign_in_cookie_csrf_and_sign_out(daemon: DaemonProc) -> None:
    d = daemon
    async with browser_client(d) as anon:
        r = await anon.get("/ui/")
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        page = await anon.get("/ui/login")
        assert page.status_code == 200 and 'type="password"' in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"
        bad = await anon.post("/ui/login", data={"secret": "guess"})
        assert bad.status_code == 401 and "wrong API token or UI password" in bad.text
        assert "set-cookie" not in bad.headers
        # the one exception handler (hydra_os.api.app.hydra_error) renders a page's error as the page, headers too
        assert bad.headers["content-type"].startswith("text/html") and bad.headers["x-frame-options"] == "DENY"

        r = await anon.post("/ui/login", data={"secret": d.token})
        assert r.status_code == 303
        flags = r.headers["set-cookie"].lower()
        for flag in ("httponly", "samesite=strict", "secure", "path=/ui", "max-age=43200"):
            assert flag in flags, flags
        sid = r.cookies["hydra_ui"]
        assert d.token not in r.headers["set-cookie"]

    async with browser_client(d, sid) as me:
        home = await me.get("/ui/")
        assert home.status_code == 200 and 'data-node="mc"' in home.text
        csrf = csrf_of(home.text)
        for path in ("/ui/", "/ui/approvals", "/ui/tasks", "/ui/feed", "/ui/ask", "/ui/healing", "/ui/briefing"):
            body = (await me.get(path)).text
            assert d.token not in body and PASSWORD not in body, path
        # the cookie is no bearer token: /v1 still wants the header
        assert (await me.get("/v1/status")).status_code == 401

        # CSRF: missing, wrong, or from another site -> refused, nothing done
        async with api(d) as c:
            task = (await c.post("/v1/tasks", json={"kind": "ui.test.wait", "title": "csrf probe"})).json()["task"]
        path = f"/ui/tasks/{task['id']}/cancel"
        assert (await me.post(path, data={})).status_code == 403
        wrong = await me.post(path, data={"csrf": csrf[:-2] + "xx"})
        assert wrong.status_code == 403 and "CSRF token" in wrong.text
        evil = await me.post(path, data={"csrf": csrf}, headers={"origin": "https://evil.example"})
        assert evil.status_code == 403 and "another site" in evil.text
        cross = await me.post(path, data={"csrf": csrf}, headers={"origin": "null", "sec-fetch-site": "cross-site"})
        assert cross.status_code == 403 and "another site" in cross.text
        async with api(d) as c:
            assert (await c.get(f"/v1/tasks/{task['id']}")).json()["task"]["state"] in ("queued", "pending")
        ok = await me.post(path, data={"csrf": csrf})
        assert ok.status_code == 303 and ok.headers["location"] == "/ui/tasks"
        shown = (await me.get("/ui/tasks")).text
        assert f"task {task['id']}: cancelled" in shown
        # a failed action shows the node's one-line error, not a blank page
        await me.post(path, data={"csrf": csrf})
        assert "already" in (await me.get("/ui/tasks")).text

        # sign out ends the session server-side
        assert (await me.post("/ui/logout", data={"csrf": csrf})).status_code == 303
        gone = await me.get("/ui/approvals")
        assert gone.status_code == 401 and "sign in first" in gone.text.lower()

    # without a session a body is refused unread, as everywhere on the node
    async with browser_client(d) as anon:
        r = await anon.post(path, data={"csrf": csrf})
        assert r.status_code == 401 and "bearer" in r.text
    # the UI password from ui.password_file signs in too
    assert await sign_in(d, PASSWORD)


async def test_wrong_sign_ins_are_throttled_per_client(daemon: DaemonProc) -> None:
    """A guesser on another address (127.0.0.2) is slowed down; the owner (127.0.0.1) still gets in."""
    hostile = httpx.AsyncClient(base_url=daemon.api_url, timeout=30,
                                transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"))
    async with hostile as c:
        codes = [(await c.post("/ui/login", data={"secret": f"guess-{i}"})).status_code for i in range(6)]
        assert codes[:5] == [401] * 5 and codes[5] == 429, codes
        r = await c.post("/ui/login", data={"secret": daemon.token})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # checked before the secret
        assert "too many wrong sign-ins" in r.text
    assert await sign_in(daemon, daemon.token)


async def test_phone_link_get_confirms_post_acts_once(daemon: DaemonProc) -> None:
    d = daemon
    async with parker(d) as p, httpx.AsyncClient(timeout=30) as phone:
        aid = await p.park("archival:phone")
        other = await p.park("archival:other")
        link = phone_link(d, aid, Verb.APPROVE, time.time() + 600)
        page = await phone.get(link)  # a link preview or prefetcher: shows, does nothing
        assert page.status_code == 200 and "Approve this action" in page.text and "delete archival:phone" in page.text
        async with api(d) as c:
            assert (await c.get(f"/v1/approvals/{aid}")).json()["state"] == "pending"
        done = await phone.post(link)  # what ntfy's http button sends: a POST without a body
        assert done.status_code == 200 and "is now approved" in done.text, done.text
        await wait_until(lambda: len(p.ran.ran) == 1, 20, what="the approved action ran")
        again = await phone.post(link)
        assert again.status_code == 403 and "already used" in again.text
        assert len(p.ran.ran) == 1
        # a link cannot be turned into one for another approval or verb
        token = link.rsplit("/", 1)[1]
        forged = link.replace(token, token.replace(token[3], "A" if token[3] != "A" else "B", 1))
        assert (await phone.post(forged)).status_code == 403
        deny_other = phone_link(d, other, Verb.DENY, time.time() + 600)
        assert "is now denied" in (await phone.post(deny_other)).text
        late = phone_link(d, other, Verb.APPROVE, time.time() - 1)
        r = await phone.post(late)
        assert r.status_code == 403 and "expired" in r.text
        assert [a.target for a in p.ran.ran] == ["archival:phone"]


async def test_memory_page_core_blocks_facts_and_learnings(daemon: DaemonProc) -> None:
    sid = await sign_in(daemon, daemon.token)
    async with browser_client(daemon, sid) as me:
        page = ""
        for _ in range(60):  # the memory node opens its stores in the background
            page = (await me.get("/ui/memory")).text
            if 'id="core-owner"' in page:
                break
            await asyncio.sleep(1)
        assert 'id="core-owner"' in page and "/2000 characters" in page, page
        csrf = csrf_of(page)
        r = await me.post("/ui/memory/core/owner", data={"csrf": csrf, "value": "Sam; lives in Lyon; likes owls"})
        assert r.status_code == 303
        page = (await me.get("/ui/memory")).text
        assert "owner: 30/2000 characters saved" in page and "likes owls</textarea>" in page
        await me.post("/ui/memory/core/owner", data={"csrf": csrf, "value": "x" * 2001})
        page = (await me.get("/ui/memory")).text
        assert 'class="flash error"' in page and "2000" in page and "likes owls</textarea>" in page  # nothing lost
        facts = (await me.get("/ui/memory", params={"entity": "Sam", "at": "2026-01-01T12:00"})).text
        assert "no entity has this name or alias" in facts and "Save owner" in facts  # the one-line error
        bad = (await me.get("/ui/memory", params={"entity": "Sam", "at": "soon"})).text
        assert "at: expected a time" in bad
        assert "Learnings (newest first)" in page


async def _hello(lines: AsyncIterator[str]) -> None:
    async for line in lines:
        if line == "event: hello":
            return


async def test_live_feed_streams_events_and_bounds_open_streams(daemon: DaemonProc) -> None:
    """Events arrive as SSE; at most ui.max_streams (3 here) pages stream at once, so one client
    opening streams cannot exhaust the node; a closed page frees its slot."""
    sid = await sign_in(daemon, daemon.token)
    async with contextlib.AsyncExitStack() as stack, parker(daemon) as p:
        me = await stack.enter_async_context(browser_client(daemon, sid))
        first = await stack.enter_async_context(me.stream("GET", "/ui/feed/stream", params={"type": "approval."}))
        assert first.headers["content-type"].startswith("text/event-stream")
        lines = first.aiter_lines()
        await asyncio.wait_for(_hello(lines), 10)
        aid = await p.park("archival:feed")
        seen = ""
        async with asyncio.timeout(15):
            async for line in lines:
                if line.startswith("data:") and aid in line:
                    seen = line
                    break
        assert '"type":"approval.requested"' in seen and "archival:feed" in seen
        held = []  # the line iterators too: a collected one closes its connection (httpx)
        for _ in range(2):
            extra = await stack.enter_async_context(me.stream("GET", "/ui/feed/stream"))
            held.append(extra.aiter_lines())
            await asyncio.wait_for(_hello(held[-1]), 10)
        async with asyncio.timeout(15):
            busy = await me.get("/ui/feed/stream")
        assert busy.status_code == 503 and busy.headers["retry-after"]
        await first.aclose()
        async with asyncio.timeout(15):
            while True:  # the server notices the closed connection and frees the slot
                async with me.stream("GET", "/ui/feed/stream") as again:
                    if again.status_code == 200:
                        break
                await asyncio.sleep(0.2)


async def test_ask_goes_through_the_intake(daemon: DaemonProc) -> None:
    sid = await sign_in(daemon, daemon.token)
    async with browser_client(daemon, sid) as me:
        csrf = csrf_of((await me.get("/ui/ask")).text)
        r = await me.post("/ui/ask", data={"csrf": csrf, "text": "research owls overnight"})
        assert r.status_code == 200 and "Queued research on &#34;owls&#34; as task" in r.text, r.text
        task_id = re.search(r"as task ([0-9a-f]+)", r.text).group(1)  # type: ignore[union-attr]
        async with api(daemon) as c:
            task = (await c.get(f"/v1/tasks/{task_id}")).json()["task"]
        assert task["kind"] == "research.topic" and task["window"] == "overnight"
        assert "research: owls" in (await me.get("/ui/tasks")).text.split('id="h-tonight"')[1].split("</section>")[0]
        empty = await me.post("/ui/ask", data={"csrf": csrf, "text": "  "})
        assert empty.status_code == 422 and "text: this field is required" in empty.text


async def test_every_other_page_action(daemon: DaemonProc) -> None:
    """Run the checks, add a recurring job (and a bad one: the scheduler's one-line error), retry a
    cancelled task, read a briefing from the archive."""
    sid = await sign_in(daemon, daemon.token)
    briefings = daemon.state_dir / "briefings"
    briefings.mkdir(exist_ok=True)
    (briefings / "2026-12-06-0700.md").write_text("# Briefing\n\nGood morning. The owls are fine.\n")
    async with browser_client(daemon, sid) as me, api(daemon) as c:
        csrf = csrf_of((await me.get("/ui/healing")).text)

        async def flash(path: str, data: dict[str, str], back: str) -> str:
            r = await me.post(path, data={"csrf": csrf, **data})
            assert r.status_code == 303 and r.headers["location"] == back, r.text
            m = re.search(r'<p class="flash (ok|error)"[^>]*>([^<]*)</p>', (await me.get(back)).text)
            assert m, "no result shown"
            return f"{m.group(1)}: {m.group(2)}"

        assert (await flash("/ui/healing/run", {}, "/ui/healing")).startswith("ok: checks ran: ")
        # the approvals list refreshing itself (?refresh=1) leaves a form's result for the redirect
        await me.post("/ui/healing/run", data={"csrf": csrf})
        assert 'class="flash' not in (await me.get("/ui/approvals", params={"refresh": "1"})).text
        assert 'class="flash ok"' in (await me.get("/ui/healing")).text
        job = {"id": "owl-digest", "kind": "research.topic", "cron": "0 3 * * *", "title": "owl digest"}
        assert (await flash("/ui/schedule", job, "/ui/tasks")).startswith("ok: job owl-digest added; next run 20")
        assert "owl-digest: owl digest" in (await me.get("/ui/tasks")).text
        bad = await flash("/ui/schedule", {**job, "id": "bad", "cron": "every tuesday"}, "/ui/tasks")
        assert bad.startswith("error: ") and "cron" in bad
        task = (await c.post("/v1/tasks", json={"kind": "ui.test.wait", "title": "retry me"})).json()["task"]
        assert (await c.post(f"/v1/tasks/{task['id']}/cancel")).status_code == 200
        retried = await flash(f"/ui/tasks/{task['id']}/retry", {}, "/ui/tasks")
        assert retried.startswith(f"ok: task {task['id']}: ") and "cancelled" not in retried
        page = (await me.get("/ui/briefing")).text
        assert 'href="/ui/briefing?name=2026-12-06-0700"' in page  # in the archive
        page = (await me.get("/ui/briefing", params={"name": "2026-12-06-0700"})).text
        assert ": 2026-12-06-0700</h2>" in page and "The owls are fine." in page
        outside = (await me.get("/ui/briefing", params={"name": "../../api-token"})).text
        assert daemon.token not in outside  # only names listed from the folder are opened
