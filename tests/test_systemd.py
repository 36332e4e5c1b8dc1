"""sd_notify over a real AF_UNIX datagram socket, including the abstract namespace."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from hydra_os.systemd import Notifier


def test_notify_sends_datagrams(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(str(path))
        srv.settimeout(2)
        n = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000"})
        assert n.enabled and n.watchdog_interval == 1.0
        n.ready("up")
        assert srv.recv(100) == b"READY=1\nSTATUS=up"
        n.stopping()
        assert srv.recv(100) == b"STOPPING=1"


def test_abstract_socket() -> None:
    name = f"hydra-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind("\0" + name)
        srv.settimeout(2)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).notify("WATCHDOG=1")
        assert srv.recv(100) == b"WATCHDOG=1"


def test_outside_systemd_is_a_noop() -> None:
    n = Notifier({})
    assert not n.enabled and not n.notify("READY=1") and n.watchdog_interval is None
    # a watchdog meant for another pid is not ours
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_interval is None
