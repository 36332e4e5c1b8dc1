"""The sign-in throttle, the session store and the phone links, on their own (real files, a
controlled clock)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.notify import Notification, NotifyAction, NtfyNotifier
from hydra_os.policy.approval_links import KEY_FILE, ApprovalLinks, LinkRefusedError, Verb, _b64, _unb64
from hydra_os.policy.audit import ChainReport, Problem
from hydra_os.ui.auditwatch import chain_status
from hydra_os.ui.errors import SignInThrottledError
from hydra_os.ui.sessions import SessionStore, csrf_ok
from hydra_os.ui.throttle import SignInThrottle
from hydra_os.ui.views import BackupResult, backup_row, models
from tests.helpers import freeze

RECEIVER = Path(__file__).resolve().parent.parent / "standins" / "notify_receiver.py"


class Clock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_throttle_slows_one_client_and_never_locks_out_a_clean_one() -> None:
    clock = Clock()
    th = SignInThrottle(burst=3, refill_s=10.0, global_burst=4, global_refill_s=100.0, clock=clock)
    for _ in range(3):
        th.check("evil")
        th.failed("evil")
    with pytest.raises(SignInThrottledError) as e:
        th.check("evil")
    assert 0 < e.value.retry_after <= 10.0
    clock.t += 10.0  # one try back
    th.check("evil")
    th.failed("evil")
    # the global bucket is now empty (4 wrong tries): a client that failed before is refused ...
    th.failed("other")
    clock.t += 20.0
    with pytest.raises(SignInThrottledError):
        th.check("other")
    # ... but the owner, with a clean record, still gets in
    th.check("owner")
    th.succeeded("other")
    th.check("other")  # a success clears the client's record


def test_throttle_table_is_bounded() -> None:
    th = SignInThrottle(max_clients=10)
    for i in range(100):
        th.failed(f"10.0.0.{i}")
    assert len(th._clients) == 10


def test_sessions_expire_are_bounded_and_carry_their_own_csrf() -> None:
    clock = Clock()
    store = SessionStore(ttl=60.0, max_sessions=2, clock=clock)
    a, b = store.create(), store.create()
    assert a.id != b.id and a.csrf != b.csrf and len(a.id) >= 40
    assert csrf_ok(a, a.csrf) and not csrf_ok(a, b.csrf) and not csrf_ok(a, None)
    store.flash(a.id, "done", error=False)
    c = store.create()
    assert store.get(a.id) is None and store.get(c.id) == c  # the oldest dropped, with its pending result
    assert store.take_flash(a.id) is None and not store._flash
    store.flash(b.id, "x", error=True)
    assert store.take_flash(b.id) == ("x", True) and store.take_flash(b.id) is None
    clock.t += 61
    assert store.get(b.id) is None
    store.end(c.id)
    assert store.get(c.id) is None


def test_links_are_single_use_durably_and_scoped(tmp_path: Path) -> None:
    clock = Clock(1_700_000_000.0)
    links = ApprovalLinks.open(tmp_path)
    links.clock = clock
    assert stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode) == 0o600
    tok = links.sign("abc123", Verb.APPROVE, clock.t + 60)
    claim = links.read(tok)
    assert (claim.approval_id, claim.verb) == ("abc123", Verb.APPROVE)
    links.record(links.claim(tok))
    with pytest.raises(LinkRefusedError, match="already used"):
        links.claim(tok)
    reopened = ApprovalLinks.open(tmp_path)  # after a restart: same key, the use remembered
    reopened.clock = clock
    with pytest.raises(LinkRefusedError, match="already used"):
        reopened.read(tok)
    # another approval or the other verb: the payload changes, the mac no longer fits
    payload, mac = tok.split(".")
    aid, verb, exp, nonce = json.loads(_unb64(payload))
    for forged in (["other1", verb, exp, nonce], [aid, "deny", exp, nonce], [aid, verb, exp + 3600, nonce]):
        fake = _b64(json.dumps(forged, separators=(",", ":")).encode()) + "." + mac
        with pytest.raises(LinkRefusedError, match="not genuine"):
            reopened.read(fake)
    late = reopened.sign("abc123", Verb.DENY, clock.t + 5)
    clock.t += 6
    with pytest.raises(LinkRefusedError, match="expired"):
        reopened.read(late)
    with pytest.raises(LinkRefusedError):
        reopened.read("garbage")


@pytest.fixture
def ntfy(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The ntfy stand-in (JSON publish): its URL and the file it records bodies in."""
    out = tmp_path / "received.jsonl"
    p = subprocess.Popen([sys.executable, str(RECEIVER), "--out", str(out), "--mode", "ntfy"],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    yield f"http://127.0.0.1:{p.stdout.readline().strip()}", out
    p.terminate()
    p.wait(5)


async def test_ntfy_gets_http_action_buttons(ntfy: tuple[str, Path]) -> None:
    """ntfy's JSON publish carries the buttons: ``http`` actions POST the link from the phone."""
    url, out = ntfy
    buttons = [NotifyAction(label="Approve", url="https://h.example/ui/link/x.y"),
               NotifyAction(label="Deny", url="https://h.example/ui/link/z.w")]
    await NtfyNotifier(url, "hydra", None, 5.0).send(Notification(title="Approval needed", message="m",
                                                                  actions=buttons))
    got = json.loads(out.read_text().splitlines()[0])["body"]
    assert got["actions"] == [
        {"action": "http", "label": "Approve", "url": "https://h.example/ui/link/x.y", "method": "POST", "clear": True},
        {"action": "http", "label": "Deny", "url": "https://h.example/ui/link/z.w", "method": "POST", "clear": True},
    ]


def test_chain_status_names_the_first_broken_seq() -> None:
    a = ChainReport("a", events=4, first_seq=1, last_seq=7)
    b = ChainReport("b", events=3, first_seq=2, last_seq=9)
    ok = chain_status({"a": a, "b": b}, 5.0)
    assert ok.ok and ok.verified_to == 9 and ok.line.startswith("Audit chain verified up to seq 9 (7 events, 2 ")
    b.problems += [Problem("b", None, "head-missing", "newest gone"), Problem("b", 8, "broken", "x"),
                   Problem("b", 5, "edited", "y")]
    bad = chain_status({"a": a, "b": b}, 5.0)
    assert not bad.ok and bad.broken_at == 5
    assert bad.line == "Audit chain broken at seq 5: node b, edited: y (and 2 more problem(s))"
    only_head = chain_status({"b": ChainReport("b", problems=[Problem("b", None, "purged", "all gone")])}, 5.0)
    assert only_head.broken_at is None and only_head.line.startswith("Audit chain broken: node b, purged")
    assert chain_status({}, 5.0).line == "Audit chain: no events yet"


def test_backup_row_warns_on_none_failed_and_overdue() -> None:
    assert backup_row({"destination": "/nas", "last": None}, 0).result is BackupResult.NONE
    good = {"first_attempt_at": 0, "last_attempt_at": 100, "last_ok_at": 100, "last_ok_name": "b1",
            "last_ok_size": 2_500_000, "max_age": 3600}
    row = backup_row({"destination": "/nas", "last": good}, 100 + 1800)
    assert (row.result, row.warning, row.size, row.age_h, row.name) == (BackupResult.OK, None, "2.5 MB", 0.5, "b1")
    late = backup_row({"destination": "/nas", "last": good}, 100 + 7200)
    assert late.result is BackupResult.OK and late.warning == "no backup for 2.0 h (backup.max_age 1 h)"
    failed = backup_row({"destination": "/nas", "last": {**good, "last_error": "disk full"}}, 200)
    assert failed.result is BackupResult.FAILED and failed.warning == "the last backup failed: disk full"
    assert failed.name == "b1"  # the last good one is still named


async def test_the_models_part_says_so_when_the_bus_is_too_busy_to_list_nodes(bus: Bus,
                                                                            nats_server: EmbeddedNats) -> None:
    """A busy machine (the bus paused past its 2 s request timeout) made the overview a 500 page: the node
    list's raw nats timeout escaped. Now that part of the page names the error; the rest renders."""
    assert nats_server.pid is not None
    freeze(nats_server.pid)  # every thread stopped: a queued SIGSTOP let it answer under load
    try:
        out = await asyncio.wait_for(models(bus, 5.0), 30)
    finally:
        os.kill(nats_server.pid, signal.SIGCONT)
    assert out["model_lists"] == []
    assert len(out["model_errors"]) == 1 and "the node list" in out["model_errors"][0], out
    assert "did not answer" in out["model_errors"][0]
