"""The one lifecycle: ComponentState with a reason, the Background task owner, async-with components."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hydra_os.lifecycle import Background, ComponentState, Lifecycle


class Ticker(Lifecycle):
    """A component with one background loop; ``fail`` makes its start raise."""

    name = "ticker"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.ticks = 0
        self.stopped = 0

    async def _start(self) -> None:
        if self.fail:
            raise RuntimeError("port 1 is taken")
        self.background.spawn(self._loop(), "tick")

    async def _loop(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0.01)

    async def _stop(self) -> None:
        self.stopped += 1

    def _details(self) -> dict[str, Any]:
        return {"ticks": self.ticks}


async def test_async_with_starts_runs_and_stops_the_component_and_its_tasks() -> None:
    t = Ticker()
    assert t.status()["lifecycle"] == {"state": "stopped", "reason": None}
    async with t as same:
        assert same is t and t.state is ComponentState.RUNNING
        await asyncio.sleep(0.05)
        assert len(t.background) == 1
        st = t.status()
        assert st["ticks"] > 0 and st["lifecycle"]["state"] == "running"
    assert t.status()["lifecycle"]["state"] == "stopped" and t.stopped == 1
    assert len(t.background) == 0  # the loop was cancelled and awaited, not left behind
    ticks = t.ticks
    await asyncio.sleep(0.05)
    assert t.ticks == ticks
    await t.stop()  # idempotent
    assert t.status()["lifecycle"]["state"] == "stopped"


async def test_a_failed_start_reports_failed_with_the_reason_and_stop_is_still_safe() -> None:
    t = Ticker(fail=True)
    with pytest.raises(RuntimeError):
        await t.start()
    assert t.status()["lifecycle"] == {"state": "failed", "reason": "port 1 is taken"}
    await t.stop()
    assert t.state is ComponentState.STOPPED


async def test_a_crashed_background_task_is_logged_and_marks_the_component_failed() -> None:
    t = Ticker()
    await t.start()

    async def boom() -> None:
        raise ValueError("disk on fire")

    t.background.spawn(boom(), "boom")
    for _ in range(100):
        if t.state is ComponentState.FAILED:
            break
        await asyncio.sleep(0.01)
    assert t.state is ComponentState.FAILED
    assert t.reason is not None and "ticker-boom" in t.reason and "disk on fire" in t.reason
    await t.stop()


async def test_close_is_bounded_when_a_task_swallows_cancellation() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue  # swallows it, like a careless handler

    bg = Background("owner", bound_s=0.2)
    task = bg.spawn(stubborn(), "stubborn")
    await asyncio.sleep(0.01)
    await asyncio.wait_for(bg.close(), 5)  # returns after the bound instead of hanging
    assert not task.done()
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=5)


async def test_close_from_inside_an_owned_task_does_not_wait_for_itself() -> None:
    bg = Background("owner")
    done = asyncio.Event()

    async def closer() -> None:
        await bg.close()
        done.set()

    bg.spawn(closer(), "closer")
    await asyncio.wait_for(done.wait(), 5)


class Opener(Lifecycle):
    """Opens in the background (like the memory component): start() returns while still opening."""

    name = "opener"
    opens_in_background = True

    def __init__(self, broken: bool) -> None:
        self.broken = broken
        self.go = asyncio.Event()

    async def _start(self) -> None:
        self.background.spawn(self._open(), "open")

    async def _open(self) -> None:
        await self.go.wait()
        if self.broken:
            raise OSError("store file damaged")
        self.set_state(ComponentState.RUNNING)


async def test_a_component_opening_in_the_background_stays_starting_until_it_says_otherwise() -> None:
    ok, broken = Opener(broken=False), Opener(broken=True)
    for c in (ok, broken):
        await c.start()
        assert c.state is ComponentState.STARTING  # start() returned, the open goes on
        c.go.set()
    for _ in range(100):
        if ok.state is not ComponentState.STARTING and broken.state is not ComponentState.STARTING:
            break
        await asyncio.sleep(0.01)
    assert ok.status()["lifecycle"] == {"state": "running", "reason": None}
    assert broken.status()["lifecycle"]["state"] == "failed"
    assert "store file damaged" in (broken.reason or "")
    for c in (ok, broken):
        await c.stop()
