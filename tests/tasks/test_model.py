"""Pure logic: specs name the bad field, windows in the owner's zone, backoff, step runner shapes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from hydra_os.config import OwnerConfig
from hydra_os.tasks.execution import backoff
from hydra_os.tasks.model import Task, TaskSpec
from hydra_os.tasks.windows import Windows, overnight_window

BERLIN = ZoneInfo("Europe/Berlin")


def ts(s: str, tz: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(s).replace(tzinfo=tz).timestamp()


@pytest.mark.parametrize(("field", "value", "expect"), [
    ("kind", "Research Topic", "kind"),
    ("priority", "asap", "priority"),
    ("not_before", "tomorrow", "not_before"),
    ("not_before", "2025-01-31T22:00", "with a zone"),
    ("window", "weekend", "window"),
    ("gpu_vram_mb", -1, "gpu_vram_mb"),
    ("idempotency_key", "has space", "idempotency_key"),
    ("params", {"x": object()}, "params"),
])
def test_spec_errors_name_the_field(field: str, value: object, expect: str) -> None:
    with pytest.raises(ValidationError) as e:
        TaskSpec(**{"kind": "diag.echo", field: value})
    assert expect in str(e.value)


def test_spec_accepts_names_and_iso_times() -> None:
    s = TaskSpec(kind="research.topic", priority="urgent", not_before="2025-01-31T22:00+01:00", window="overnight")
    assert s.priority == 3 and s.not_before == ts("2025-01-31T22:00")
    t = Task.from_spec(s)
    assert t.idempotency_key == f"task-{t.id}" and t.message_id() == t.idempotency_key
    t.release = 2
    assert t.message_id() == f"task-{t.id}#r2"


def test_overnight_window_crossing_midnight_in_owner_zone() -> None:
    owner = OwnerConfig(timezone="Europe/Berlin", overnight_start="23:00", overnight_end="06:00")
    w = overnight_window(owner)
    assert not w.is_open(ts("2025-03-10T22:59"))
    assert w.is_open(ts("2025-03-10T23:00"))
    assert w.is_open(ts("2025-03-11T05:59"))
    assert not w.is_open(ts("2025-03-11T06:00"))
    assert w.next_open(ts("2025-03-11T12:00")) == ts("2025-03-11T23:00")
    assert w.next_close(ts("2025-03-11T01:00")) == ts("2025-03-11T06:00")
    # the same wall-clock window in another zone is another instant
    utc = overnight_window(OwnerConfig(timezone="UTC", overnight_start="23:00", overnight_end="06:00"))
    assert utc.next_open(ts("2025-03-11T12:00")) == ts("2025-03-11T23:00", ZoneInfo("UTC"))


def test_window_across_dst_change() -> None:
    owner = OwnerConfig(timezone="Europe/Berlin", overnight_start="01:00", overnight_end="04:00")
    w = overnight_window(owner)
    # 2025-03-30: clocks jump 02:00 -> 03:00, the window is two hours long that night
    assert w.next_close(ts("2025-03-30T01:30")) - ts("2025-03-30T01:30") == pytest.approx(1.5 * 3600)


def test_eligibility_combines_not_before_and_window() -> None:
    owner = OwnerConfig(timezone="Europe/Berlin", overnight_start="01:00", overnight_end="06:00")
    windows = Windows(owner)
    now = ts("2025-03-11T12:00")
    t = Task.from_spec(TaskSpec(kind="x.y", window="overnight"))
    assert windows.eligible_at(t, now) == ts("2025-03-12T01:00")
    t.not_before = ts("2025-03-12T05:30")
    assert windows.eligible_at(t, now) == ts("2025-03-12T05:30")  # inside that night's window
    t.not_before = ts("2025-03-12T07:00")
    assert windows.eligible_at(t, now) == ts("2025-03-13T01:00")
    plain = Task.from_spec(TaskSpec(kind="x.y"))
    assert windows.eligible_at(plain, now) == now


def test_backoff_doubles_and_caps() -> None:
    mid = lambda: 0.5  # noqa: E731 - no jitter
    assert [backoff(n, 5, 60, mid) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 60]
    assert 4.5 <= backoff(1, 5, 60) <= 5.5
