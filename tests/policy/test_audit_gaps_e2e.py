"""``hydra audit verify`` against real daemons after the three removals issue 18 item 8 found passing:
the stream's oldest event deleted, every event of a stopped node purged, and a running node's newest
event deleted just before it is killed with -9 and restarted."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from tests.helpers import REPO, DaemonProc, NatsProc, daemon_env

pytestmark = pytest.mark.e2e


def env(nats: NatsProc) -> dict[str, str]:
    return daemon_env(HYDRA_BUS__URL=nats.url, HYDRA_NODE__ROLES="gateway", HYDRA_LOG__LEVEL="INFO")


def verify(nats: NatsProc) -> tuple[int, dict[str, Any]]:
    r = subprocess.run([sys.executable, "-m", "hydra_os", "audit", "verify", "--json"], env=env(nats),
                       cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert r.stdout.strip(), r.stderr
    return r.returncode, json.loads(r.stdout)


async def on_bus(nats: NatsProc, what: str, node: str = "") -> None:
    async with Bus([nats.url], BusConfig(request_timeout=10), name="test-tamper") as bus:
        if what == "delete-first":
            info = await bus.js.stream_info(names.EVENTS_STREAM)
            assert await bus.js.delete_msg(names.EVENTS_STREAM, info.state.first_seq)
        elif what == "purge":
            await bus.js.purge_stream(names.EVENTS_STREAM, subject=names.events_subject(node))
        elif what == "delete-newest":
            last = await bus.js.get_last_msg(names.EVENTS_STREAM, names.events_subject(node))
            assert await bus.js.delete_msg(names.EVENTS_STREAM, last.seq)


def kinds(report: dict[str, Any]) -> list[str]:
    return sorted(p["kind"] for p in report["problems"])


def test_verify_reports_deleted_oldest_purged_node_and_tail_deleted_before_kill_9(
        nats_proc: NatsProc, tmp_path: Path) -> None:
    a = DaemonProc("auda", tmp_path / "a", env(nats_proc)).start(timeout=60)
    b = DaemonProc("audb", tmp_path / "b", env(nats_proc))
    try:
        a.stop()
        a.start(timeout=60)  # a second start: auda's chain has more than the stream's first event
        b.start(timeout=60)
        b.stop()
        code, reports = verify(nats_proc)
        assert code == 0 and all(r["ok"] for r in reports.values()), reports

        asyncio.run(on_bus(nats_proc, "delete-first"))  # auda's first event: the stream's first message
        asyncio.run(on_bus(nats_proc, "purge", "audb"))  # every event of the stopped node
        code, reports = verify(nats_proc)
        assert code == 1
        assert kinds(reports["auda"]) == ["missing", "start-missing"], reports["auda"]  # 1 of its events
        assert kinds(reports["audb"]) == ["purged"], reports["audb"]

        asyncio.run(on_bus(nats_proc, "delete-newest", "auda"))
        a.kill9()
        a.start(timeout=60)
        code, reports = verify(nats_proc)
        assert code == 1
        # restarted, auda continued from its recorded head: the deleted event shows as a broken link
        assert {"broken", "missing"} <= set(kinds(reports["auda"])), reports["auda"]
        assert "were removed from the stream while it was down" in a.logs()
    finally:
        a.stop()
        b.stop()
