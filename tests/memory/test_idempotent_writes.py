"""Writes over the bus are applied once per request id, and a lost reply is "unknown outcome", not "failed".

A real memory daemon (``hydra run``, role memory) on a real nats-server; the daemon is paused with
SIGSTOP past the client's timeout, so the write is applied after the caller gave up (the outage of
issue 18); a retry with the same request id is then answered from the first run, not applied again.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from memory.errors import MemoryInputError, MemoryOutcomeUnknownError
from memory.service import MemoryClient
from tests.helpers import DaemonProc, NatsProc, daemon_env, freeze

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture
async def memory_daemon(tmp_path: Path, nats_proc: NatsProc) -> AsyncIterator[tuple[DaemonProc, MemoryClient]]:
    d = DaemonProc("mem", tmp_path / "mem", daemon_env(
        HYDRA_BUS__URL=nats_proc.url, HYDRA_NODE__ROLES="memory", HYDRA_MEMORY__EMBED__BACKEND="hashing"))
    d.start(timeout=60)
    try:
        async with Bus([nats_proc.url], BusConfig(), name="test-client") as bus:
            client = MemoryClient(bus, timeout=2.0)
            for _ in range(300):
                try:
                    await client.open()
                    break
                except Exception:
                    await asyncio.sleep(0.2)
            yield d, client
    finally:
        if d.proc is not None and d.proc.poll() is None:
            os.kill(d.proc.pid, signal.SIGCONT)
        d.stop()


def _pause(d: DaemonProc, on: bool) -> None:
    assert d.proc is not None
    if on:
        freeze(d.proc.pid)  # every thread stopped: a request sent now cannot be answered before the resume
    else:
        os.kill(d.proc.pid, signal.SIGCONT)


async def _owner(client: MemoryClient) -> str:
    return str((await client.call("core.get", {"label": "owner"}, timeout=30))["value"])


async def _until_present(client: MemoryClient, text: str) -> None:
    for _ in range(300):
        if text in await _owner(client):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared")


async def test_a_write_whose_reply_is_lost_is_applied_once_on_retry(
    memory_daemon: tuple[DaemonProc, MemoryClient],
) -> None:
    d, client = memory_daemon
    _pause(d, True)
    try:
        with pytest.raises(MemoryOutcomeUnknownError) as err:
            await client.call("core.append", {"label": "owner", "text": "Likes figs."}, request_id="req-1")
    finally:
        _pause(d, False)
    msg = str(err.value)
    assert err.value.request_id == "req-1" and "may or may not have been applied" in msg and "req-1" in msg
    await _until_present(client, "Likes figs.")  # it was applied after the caller gave up

    again = await client.call("core.append", {"label": "owner", "text": "Likes figs."}, request_id="req-1",
                              timeout=30)
    assert again["value"].count("Likes figs.") == 1
    assert (await _owner(client)).count("Likes figs.") == 1
    # a new id is a new write (the control: the same text is appended again)
    await client.call("core.append", {"label": "owner", "text": "Likes figs."}, timeout=30)
    assert (await _owner(client)).count("Likes figs.") == 2


async def test_a_retry_sent_while_the_first_is_pending_is_applied_once(
    memory_daemon: tuple[DaemonProc, MemoryClient],
) -> None:
    d, client = memory_daemon
    _pause(d, True)
    try:
        for _ in range(2):  # the caller retries during the outage: both requests queue up
            with pytest.raises(MemoryOutcomeUnknownError):
                await client.call("learnings.add", {"entry": {"context": "c", "learning": "pin nats"}},
                                  request_id="req-2", timeout=1.0)
    finally:
        _pause(d, False)
    third = await client.call("learnings.add", {"entry": {"context": "c", "learning": "pin nats"}},
                              request_id="req-2", timeout=30)
    listed = await client.call("learnings.list", timeout=30)
    assert [e["id"] for e in listed] == [third["id"]] == ["L-0001"]


async def test_a_request_id_reused_for_another_write_is_refused(
    memory_daemon: tuple[DaemonProc, MemoryClient],
) -> None:
    _, client = memory_daemon
    await client.call("core.append", {"label": "owner", "text": "A."}, request_id="req-3", timeout=30)
    with pytest.raises(MemoryInputError, match="already used for a different request"):
        await client.call("core.append", {"label": "owner", "text": "B."}, request_id="req-3", timeout=30)


async def test_a_retry_across_a_restart_of_the_memory_node_is_applied_once(
    memory_daemon: tuple[DaemonProc, MemoryClient],
) -> None:
    d, client = memory_daemon
    _pause(d, True)
    try:
        with pytest.raises(MemoryOutcomeUnknownError):
            await client.call("core.append", {"label": "owner", "text": "Owns a boat."}, request_id="req-4")
    finally:
        _pause(d, False)
    await _until_present(client, "Owns a boat.")
    d.kill9()  # the memory node dies before the caller retries
    d.start(timeout=60)
    for _ in range(300):
        try:
            await client.call("info", timeout=2)
            break
        except Exception:
            await asyncio.sleep(0.2)
    again = await client.call("core.append", {"label": "owner", "text": "Owns a boat."}, request_id="req-4",
                              timeout=30)
    assert again["value"].count("Owns a boat.") == 1
    assert (await _owner(client)).count("Owns a boat.") == 1
