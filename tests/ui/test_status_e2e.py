"""The overview's last backup and the live feed's audit-chain status, against a real daemon: a backup
taken through ``/v1/backups`` (the route ``hydra backup now`` calls) shows with its age, size and
destination, a failed one as a warning; the feed says up to which seq the chain verifies, moves on as
events arrive, and names the seq where a removed event broke it."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from hydra_os.bus import names
from hydra_os.bus.auth import local_credentials
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from hydra_os.policy.audit import read_events
from tests.helpers import DaemonProc, wait_for
from tests.ui.rig import api, parker, start_daemon

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProc]:
    d = start_daemon(tmp_path_factory.mktemp("ui-status"))
    wait_for(lambda: _memory_up(d), 90, what="memory served (a backup reads it)")
    yield d
    d.stop()


def _memory_up(d: DaemonProc) -> bool:
    with d.client() as c:
        return c.post("/v1/memory/context", json={"query": "ping"}).status_code == 200


@asynccontextmanager
async def _browser(d: DaemonProc) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-in browser (its session cookie kept by the client: the cookie is not Secure here)."""
    async with httpx.AsyncClient(base_url=d.api_url, headers={"origin": d.api_url}, timeout=60) as c:
        r = await c.post("/ui/login", data={"secret": d.token})
        assert r.status_code == 303, r.text
        yield c


async def _backup_now(c: httpx.AsyncClient) -> httpx.Response:
    """``POST /v1/backups`` until the policy's backoff guard (a backup just ran) lets it run."""
    async with asyncio.timeout(120):
        while True:
            r = await c.post("/v1/backups", json={"reason": "ui test"}, timeout=300)
            if r.status_code != 200 or r.json()["status"] != "deferred":
                return r
            await asyncio.sleep(1)


def _section(html: str, hid: str) -> str:
    return html.split(f'id="{hid}"')[1].split("</section>")[0]


async def test_overview_shows_the_last_backup_and_a_failed_one_as_a_warning(daemon: DaemonProc) -> None:
    async with _browser(daemon) as me, api(daemon) as c:
        before = (await me.get("/ui/")).text
        assert "Warning: no backup yet" in _section(before, "h-backup")
        r = await _backup_now(c)
        assert r.status_code == 200, r.text
        name = r.json()["backup"]["name"]
        size = r.json()["backup"]["size"]
        size_text = f"{size / 1e3:.0f} kB" if size < 1e6 else f"{size / 1e6:.1f} MB"
        dest = daemon.state_dir / "backups"
        shown = _section((await me.get("/ui/")).text, "h-backup")
        assert "OK" in shown and name in shown and size_text in shown and "0.0 h" in shown
        assert str(dest) in shown and "Warning" not in shown
        # the destination turns into a file: the next backup fails, and the overview warns
        shutil.move(dest, dest.with_name("moved"))
        dest.write_text("not a directory")
        try:
            again = await _backup_now(c)
            assert again.status_code == 503 and "backup destination" in again.text, again.text
            failed = _section((await me.get("/ui/")).text, "h-backup")
        finally:
            dest.unlink()
            shutil.move(dest.with_name("moved"), dest)
        assert "FAILED" in failed and "Warning: the last backup failed" in failed
        assert name in failed  # the last good one is still named


async def _audit_events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, object]]:
    event = ""
    async for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "audit":
            yield json.loads(line.removeprefix("data: "))


async def _next_audit(it: AsyncIterator[dict[str, object]], pred: object) -> dict[str, object]:
    async with asyncio.timeout(60):
        async for st in it:
            if callable(pred) and pred(st):
                return st
    raise AssertionError("the stream ended")


async def test_feed_shows_the_audit_chain_live(daemon: DaemonProc) -> None:
    async with _browser(daemon) as me, parker(daemon) as p, \
            me.stream("GET", "/ui/feed/stream", params={"type": "approval."}) as feed:
        audits = _audit_events(feed.aiter_lines())
        first = await _next_audit(audits, lambda st: st["ok"] and st["verified_to"])
        assert f"verified up to seq {first['verified_to']}" in str(first["line"])
        await p.park("archival:one")  # new events (all types: the page filters approval. only)
        later = await _next_audit(audits, lambda st: st["verified_to"] > first["verified_to"])
        assert later["ok"], later
        # the page rendered after that says the same, without JavaScript
        page = (await me.get("/ui/feed")).text
        assert f"verified up to seq {later['verified_to']}" in page.split('id="audit-state"')[1].split("</p>")[0]

        bus = Bus(daemon.runtime["bus"], BusConfig(), name="tamper", credentials=local_credentials(daemon.state_dir))
        await bus.connect()
        try:
            chain = await read_events(bus, node="parker")
            assert len(chain) >= 3
            assert await bus.js.delete_msg(names.EVENTS_STREAM, chain[1].seq)
        finally:
            await bus.close()
        await p.park("archival:two")
        broken = await _next_audit(audits, lambda st: not st["ok"])
        assert broken["broken_at"] == chain[2].seq
        assert f"broken at seq {chain[2].seq}: node parker, broken" in str(broken["line"])
