"""The availability record: transitions from check results, observed-time accounting, bounds, persistence."""
from __future__ import annotations

from pathlib import Path

from hydra_os.healing.uptime import DAY, UptimeLog


def test_availability_counts_observed_time_only(tmp_path: Path) -> None:
    log = UptimeLog(tmp_path / "u.json", max_gap_s=60)
    t0 = 1_000_000.0
    for i in range(0, 91, 10):  # up from t0 to t0+90
        log.observe("unit:a", True, t0 + i)
    for i in range(100, 131, 10):  # down seen at t0+100 .. t0+130
        log.observe("unit:a", False, t0 + i)
    log.observe("unit:a", True, t0 + 140)  # back
    log.observe("unit:a", True, t0 + 200)
    [a] = log.availability(t0 + 200)
    # up 0-100 (the state holds until the round that saw the change), down 100-140, up 140-200
    assert a.observed_24h_s == 200 and a.availability_24h == round(160 / 200, 5)
    assert a.up and a.since == t0 + 140 and a.down_transitions_30d == 1
    # the daemon stops for an hour: that hour is neither up nor down
    log.observe("unit:a", False, t0 + 3800)
    log.observe("unit:a", False, t0 + 3850)
    [a] = log.availability(t0 + 3850)
    assert a.observed_24h_s == 250 and a.availability_24h == round(160 / 250, 5)
    assert not a.up and a.down_transitions_30d == 2


def test_windows_bounds_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "healing" / "uptime.json"
    log = UptimeLog(path, max_gap_s=DAY, max_segments=10)
    t0 = 2_000_000.0
    log.observe("node:b", False, t0)
    log.observe("node:b", True, t0 + DAY)  # down for a day, 40 days ago
    for d in range(1, 41):
        log.observe("node:b", True, t0 + DAY + d * DAY / 2)  # up since
    now = t0 + DAY + 20 * DAY
    log.save()
    [a] = UptimeLog(path, max_gap_s=DAY).availability(now)
    assert a.availability_24h == 1.0 and a.availability_30d is not None and a.availability_30d < 1.0
    # 41 days later the down day has left the record (bounded), and the file stays small
    for d in range(1, 70):
        log.observe("node:b", d % 2 == 0, t0 + 22 * DAY + d * 3600)
    assert len(log._data.targets["node:b"].segments) <= 10
    log.save()
    assert path.stat().st_size < 2000


def test_down_since_is_when_the_current_outage_began(tmp_path: Path) -> None:
    log = UptimeLog(tmp_path / "u.json", max_gap_s=60)
    assert log.down_since("unit:a") is None
    log.observe("unit:a", True, 100.0)
    assert log.down_since("unit:a") is None
    log.observe("unit:a", False, 110.0)
    log.observe("unit:a", False, 120.0)
    assert log.down_since("unit:a") == 110.0
    log.observe("unit:a", False, 500.0)  # after a gap: still the same outage as far as anyone saw
    assert log.down_since("unit:a") == 110.0
    log.observe("unit:a", True, 510.0)
    assert log.down_since("unit:a") is None
