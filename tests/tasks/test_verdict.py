"""Every verdict of the pure delivery decision and of a run's end, without NATS."""
from __future__ import annotations

import dataclasses

import pytest

from hydra_os.tasks.verdict import Delivered, Verdict, decide, finish

NOW = 1000.0
# a queued task that is due, has a handler here and needs no GPU: taken
BASE = Delivered(now=NOW, state="queued", terminal=False, record_release=1, message_release=1, lease_until=None,
                 due=NOW, short_defer_s=5.0, handler_here=True, handler_elsewhere=False, vram_mb=0,
                 vram_free_here=True)


@pytest.mark.parametrize(("change", "verdict"), [
    ({}, Verdict.TAKE),
    ({"state": "succeeded", "terminal": True}, Verdict.DROPPED),
    ({"state": "pending"}, Verdict.DROPPED),
    ({"message_release": 0}, Verdict.DROPPED),  # a message from before a retry
    ({"state": "running", "lease_until": NOW + 30}, Verdict.LEASED),
    ({"state": "running", "lease_until": NOW - 1}, Verdict.TAKE),  # the lease ran out: its worker died
    ({"due": NOW + 5}, Verdict.EARLY),
    ({"due": NOW + 5.1}, Verdict.DEFERRED),
    ({"handler_here": False, "handler_elsewhere": True}, Verdict.ELSEWHERE),
    ({"handler_here": False}, Verdict.NO_HANDLER),
    ({"vram_mb": 8000, "vram_free_here": False}, Verdict.NO_VRAM),
    ({"vram_mb": 8000, "vram_free_here": True}, Verdict.TAKE),
    # precedence: what is decided first wins
    ({"terminal": True, "state": "failed", "due": NOW + 100, "handler_here": False}, Verdict.DROPPED),
    ({"state": "running", "lease_until": NOW + 30, "due": NOW + 100}, Verdict.LEASED),
    ({"due": NOW + 100, "handler_here": False}, Verdict.DEFERRED),
    ({"handler_here": False, "vram_mb": 8000, "vram_free_here": False}, Verdict.NO_HANDLER),
])
def test_decide(change: dict[str, object], verdict: Verdict) -> None:
    assert decide(dataclasses.replace(BASE, **change)) is verdict  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "verdict"), [
    ({}, Verdict.SUCCEEDED),
    ({"cancelled": True}, Verdict.CANCELLED),
    ({"cancelled": True, "failed": True}, Verdict.CANCELLED),
    ({"failed": True, "failures": 1}, Verdict.RETRYING),
    ({"failed": True, "failures": 3}, Verdict.FAILED),
    ({"failed": True, "failures": 1, "permanent": True}, Verdict.FAILED),
])
def test_finish(kw: dict[str, object], verdict: Verdict) -> None:
    args: dict[str, object] = {"cancelled": False, "failed": False, "permanent": False, "failures": 0,
                               "max_failures": 3, **kw}
    assert finish(**args) is verdict  # type: ignore[arg-type]


def test_verdicts_are_the_worker_stats_keys() -> None:
    assert Verdict.NO_HANDLER == "no-handler" and Verdict.NO_VRAM == "no-vram" and Verdict.EARLY == "early"
