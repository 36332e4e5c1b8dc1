"""Notifiers against a real HTTP receiver stand-in (ntfy JSON publish, webhook) and the log file."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from hydra_os.notify import LogFileNotifier, Notification, NotifyConfig, NotifyError, build_notifier

RECEIVER = Path(__file__).resolve().parent.parent / "standins" / "notify_receiver.py"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    out = tmp_path / "received.jsonl"
    procs = []
    extra: list[str] = []

    def start(*args: str) -> str:
        p = subprocess.Popen([sys.executable, str(RECEIVER), "--out", str(out), *args], stdout=subprocess.PIPE,
                             text=True)
        procs.append(p)
        assert p.stdout is not None
        return f"http://127.0.0.1:{p.stdout.readline().strip()}"

    yield start, out, extra  # type: ignore[misc]
    for p in procs:
        p.terminate()
        p.wait(5)


NOTE = Notification(title="Hydra restarted ollama", message="ollama.service failed; restarted", tags=["healing"])


async def test_ntfy_json_publish(tmp_path: Path, receiver: tuple) -> None:  # type: ignore[type-arg]
    start, out, _ = receiver
    url = start("--mode", "ntfy", "--token", "tk_secret")
    (tmp_path / "tok").write_text("tk_secret\n")
    n = build_notifier(NotifyConfig(kind="ntfy", url=url, topic="hydra", token_file=tmp_path / "tok"), tmp_path)
    await n.send(NOTE.model_copy(update={"priority": "high"}))
    [got] = [json.loads(x) for x in out.read_text().splitlines()]
    assert got["path"] == "/"
    assert got["body"] == {"topic": "hydra", "title": NOTE.title, "message": NOTE.message, "priority": 4,
                           "tags": ["healing"]}


async def test_webhook_and_errors(tmp_path: Path, receiver: tuple) -> None:  # type: ignore[type-arg]
    start, out, _ = receiver
    url = start("--mode", "webhook")
    await build_notifier(NotifyConfig(kind="webhook", url=url + "/hook"), tmp_path).send(NOTE)
    [got] = [json.loads(x) for x in out.read_text().splitlines()]
    assert got["path"] == "/hook" and got["body"]["title"] == NOTE.title
    bad = start("--mode", "webhook", "--fail", "503")
    with pytest.raises(NotifyError, match="HTTP 503"):
        await build_notifier(NotifyConfig(kind="webhook", url=bad), tmp_path).send(NOTE)
    with pytest.raises(NotifyError, match="unreachable"):
        await build_notifier(NotifyConfig(kind="webhook", url="http://127.0.0.1:9/"), tmp_path).send(NOTE)


async def test_log_file_default(tmp_path: Path) -> None:
    n = build_notifier(NotifyConfig(), tmp_path)
    assert isinstance(n, LogFileNotifier) and n.path == tmp_path / "notifications.log"
    await n.send(NOTE)
    assert [x.title for x in n.read()] == [NOTE.title]


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"notify\.url"):
        NotifyConfig(kind="ntfy", topic="t")
    with pytest.raises(ValidationError, match=r"notify\.topic"):
        NotifyConfig(kind="ntfy", url="https://ntfy.sh")
