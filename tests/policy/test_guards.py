"""Guards on their own: backoff, attempt caps, flap hysteresis, budget, maintenance, grouping."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from hydra_os.policy.durations import parse_duration
from hydra_os.policy.guards.attempts import AttemptTracker
from hydra_os.policy.guards.budget import ActionBudget
from hydra_os.policy.guards.dependencies import DependencyGraph, FailureGroup
from hydra_os.policy.guards.flap import FlapDetector
from hydra_os.policy.guards.maintenance import AdhocWindow, MaintenanceSchedule
from hydra_os.sections.policy import MaintenanceWindowConfig, PolicyConfig
from tests.policy.nodes import Clock


def test_backoff_doubles_and_attempts_cap_within_window() -> None:
    clock = Clock()
    t = AttemptTracker(4, 600, base=2, factor=2, max_delay=5, clock=clock)
    assert t.check("u").allowed
    t.record("u")
    v = t.check("u")
    assert (v.count, v.exhausted, v.retry_after) == (1, False, 2)
    clock.advance(2)
    assert t.check("u").allowed
    t.record("u")
    assert t.check("u").retry_after == 4
    clock.advance(4)
    t.record("u")
    assert t.check("u").retry_after == 5  # 8 capped at max_delay
    clock.advance(5)
    t.record("u")
    v = t.check("u")
    assert v.exhausted and v.count == 4 and not v.allowed
    assert t.check("other").allowed  # per target
    clock.advance(600)  # attempts age out of the window
    assert t.check("u").allowed and t.check("u").count == 0


def test_flap_detection_has_hysteresis() -> None:
    f = FlapDetector(history=10, high=0.5, low=0.25)
    for s in ["ok"] * 5:
        assert not f.observe("u", s)
    flipping = ["failed", "ok", "failed", "ok", "failed"]
    states = [f.observe("u", s) for s in flipping]
    assert states[-1] and f.is_flapping("u")  # 5 changes in the last 9 pairs >= 50%
    # steady states push the changes out; below `high` but above `low` it keeps flapping
    seen_between = False
    while f.ratio("u") >= 0.25:
        assert f.is_flapping("u")
        seen_between |= f.ratio("u") < 0.5
        f.observe("u", "failed")
    assert seen_between
    assert not f.is_flapping("u") and f.ratio("u") < 0.25
    # and it does not start again until the ratio reaches `high`
    f.observe("u", "ok")
    f.observe("u", "failed")
    assert 0 < f.ratio("u") < 0.5 and not f.is_flapping("u")
    assert f.flapping() == []


def test_budget_rolls_over_an_hour() -> None:
    clock = Clock()
    b = ActionBudget(3, clock)
    for _ in range(3):
        assert not b.exhausted()
        b.consume()
        clock.advance(60)
    assert b.exhausted() and b.used() == 3
    assert b.frees_in() == pytest.approx(3600 - 180)
    clock.advance(3600 - 180 + 1)
    assert not b.exhausted() and b.used() == 2


def test_recurring_and_adhoc_maintenance_windows() -> None:
    tz = ZoneInfo("Europe/Berlin")
    # Saturday 2025-01-04 23:30 local
    clock = Clock(dt.datetime(2025, 1, 4, 23, 30, tzinfo=tz).timestamp())
    nightly = MaintenanceWindowConfig(name="sat-night", days=["sat"], start="23:00", end="01:00",
                                      targets=["unit:*"])
    s = MaintenanceSchedule([nightly], "Europe/Berlin", clock)
    assert s.active("unit:ollama") is not None and "sat-night" in (s.active("unit:ollama") or "")
    assert s.active("engine:vllm") is None  # not covered by the target globs
    clock.advance(3600)  # Sunday 00:30: still open (wraps midnight, opened on Saturday)
    assert s.active("unit:ollama") is not None
    clock.advance(3600)  # Sunday 01:30: closed
    assert s.active("unit:ollama") is None
    s.put(AdhocWindow(id="w1", targets=["*"], start=clock(), until=clock() + 7200, reason="upgrade"))
    assert "w1" in (s.active("engine:vllm") or "")
    clock.advance(7200)
    assert s.active("engine:vllm") is None
    assert [w["name"] for w in s.describe() if w["source"] == "config"] == ["sat-night"]


def test_maintenance_config_is_validated() -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        MaintenanceWindowConfig(name="x", start="25:00", end="01:00")
    with pytest.raises(ValueError, match="never open"):
        MaintenanceWindowConfig(name="x", start="01:00", end="01:00")
    with pytest.raises(ValueError, match="flap_low"):
        PolicyConfig(flap_low=0.6, flap_high=0.5)
    with pytest.raises(ValueError, match="extra"):
        PolicyConfig(budget=3)  # type: ignore[call-arg]


def test_one_group_per_root_cause() -> None:
    g = DependencyGraph(implicit=["host:gpu1", "bus"])
    g.add("bus", "host:gpu1")
    g.add("unit:open-webui", "unit:ollama")
    g.add("unit:ollama", "gpu:0")
    g.add("unit:searxng")
    # host down: everything that is failing is one incident
    assert g.group(["unit:open-webui", "unit:ollama", "unit:searxng", "bus", "host:gpu1"]) == [
        FailureGroup("host:gpu1", ("bus", "unit:ollama", "unit:open-webui", "unit:searxng"))]
    # bus down (host fine): one incident for the bus, the services under it
    assert g.group(["bus", "unit:ollama", "unit:searxng"]) == [
        FailureGroup("bus", ("unit:ollama", "unit:searxng"))]
    # shared dependency down: one incident for it
    assert g.group(["unit:open-webui", "unit:ollama"]) == [FailureGroup("unit:ollama", ("unit:open-webui",))]
    # a working dependency in between: two separate roots
    assert [x.root for x in g.group(["unit:open-webui", "gpu:0"])] == ["gpu:0", "unit:open-webui"]
    assert g.root_of("unit:open-webui", ["unit:open-webui", "unit:ollama"]) == ["unit:ollama"]


def test_failing_cycle_is_one_root() -> None:
    g = DependencyGraph()
    g.add("a", "b")
    g.add("b", "a")
    g.add("c", "a")
    assert g.group(["a", "b", "c"]) == [FailureGroup("a", ("b", "c"))]


@pytest.mark.parametrize(("text", "seconds"), [("2h", 7200), ("30m", 1800), ("1h30m", 5400), ("90", 90),
                                               ("1d", 86400), ("45s", 45)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "-1h", "0"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
