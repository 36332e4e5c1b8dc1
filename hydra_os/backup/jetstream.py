"""JetStream's own snapshot and restore protocol (what ``nats stream backup`` / ``restore`` speak).

Why the server's snapshot rather than reading messages back: the snapshot is the stream's store as
the server keeps it, taken by the server at one point in its log, so a restored stream has the same
sequence numbers, timestamps, headers and durable consumers. The audit chain heads record stream
sequences, and the task queue's pull consumers track delivery; a republished copy would have neither.

Snapshot: request ``$JS.API.STREAM.SNAPSHOT.<stream>`` with a deliver subject; the server answers
with the stream's config and state, then sends chunks, each with a reply subject we answer for flow
control, and ends with an empty message (status 204, or none after a single chunk; any other status
means it gave up). Restore:
``$JS.API.STREAM.RESTORE.<stream>`` with that config and state answers with a subject; every chunk is
sent there as a request (the reply is the flow control), and an empty request ends it and returns
the created stream. nats-py has no wrapper for either, so this speaks the subjects directly.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from hydra_os.backup.errors import BackupError, BackupInvalidError

CHUNK = 128 * 1024
API_TIMEOUT_S = 10.0
SNAPSHOT_API = "$JS.API.STREAM.SNAPSHOT.{}"
RESTORE_API = "$JS.API.STREAM.RESTORE.{}"
STREAM_INFO_API = "$JS.API.STREAM.INFO.{}"
END_STATUS = "204"  # the status header of the empty message that ends a multi-chunk snapshot


@dataclass(frozen=True)
class StreamSnapshot:
    stream: str
    config: dict[str, Any]
    state: dict[str, Any]

    @property
    def messages(self) -> int:
        return int(self.state.get("messages", 0))

    @property
    def last_seq(self) -> int:
        return int(self.state.get("last_seq", 0))

    def meta_json(self) -> bytes:
        return json.dumps({"stream": self.stream, "config": self.config, "state": self.state}, indent=1).encode()

    @classmethod
    def from_meta(cls, raw: bytes) -> StreamSnapshot:
        data = json.loads(raw)
        return cls(stream=str(data["stream"]), config=dict(data["config"]), state=dict(data["state"]))


def _api_reply(stream: str, what: str, msg: Msg) -> dict[str, Any]:
    data = json.loads(msg.data or b"{}")
    if not isinstance(data, dict):
        raise BackupError(f"{what} of stream {stream}: the server sent {msg.data[:200]!r}")
    if err := data.get("error"):
        raise BackupError(f"{what} of stream {stream}: {err.get('description', err)} (code {err.get('err_code')})")
    return data


async def _api(nc: Client, subject: str, body: dict[str, Any], stream: str, what: str) -> dict[str, Any]:
    try:
        msg = await nc.request(subject, json.dumps(body).encode(), timeout=API_TIMEOUT_S)
    except (nats.errors.Error, TimeoutError) as e:
        raise BackupError(f"{what} of stream {stream}: the bus did not answer ({type(e).__name__})") from None
    return _api_reply(stream, what, msg)


async def stream_exists(nc: Client, stream: str) -> bool:
    try:
        msg = await nc.request(STREAM_INFO_API.format(stream), b"", timeout=API_TIMEOUT_S)
    except (nats.errors.Error, TimeoutError) as e:
        raise BackupError(f"stream info of {stream}: the bus did not answer ({type(e).__name__})") from None
    data = json.loads(msg.data or b"{}")
    return "error" not in data


async def snapshot_stream(nc: Client, stream: str, path: Path, *, timeout: float) -> StreamSnapshot:
    """Write the server's snapshot of ``stream`` to ``path``; returns its config and state."""
    inbox = nc.new_inbox()
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue()  # None: the end (the server's empty message)
    problem: list[str] = []

    async def on_chunk(msg: Msg) -> None:
        if not msg.data:
            # the end: no status after a single chunk, "204" after several; anything else (408 No Flow
            # Response, No Interest) means the server gave up part way
            status = (msg.headers or {}).get("Status")
            if status and status != END_STATUS:
                problem.append(f"{status} {(msg.headers or {}).get('Description', '')}".strip())
            chunks.put_nowait(None)
            return
        chunks.put_nowait(msg.data)
        if msg.reply:
            await nc.publish(msg.reply, b"")  # flow control: the server waits for these

    out = await asyncio.to_thread(path.open, "wb")
    sub = await nc.subscribe(inbox, cb=on_chunk)
    try:
        reply = await _api(nc, SNAPSHOT_API.format(stream), {"deliver_subject": inbox, "chunk_size": CHUNK},
                           stream, "snapshot")
        async with asyncio.timeout(timeout):
            while (chunk := await chunks.get()) is not None:
                await asyncio.to_thread(out.write, chunk)
    except TimeoutError:
        raise BackupError(f"snapshot of stream {stream} did not finish within {timeout:g}s") from None
    finally:
        await sub.unsubscribe()
        await asyncio.to_thread(_close_synced, out)
    if problem:
        raise BackupError(f"snapshot of stream {stream}: the server stopped it ({problem[0]})")
    return StreamSnapshot(stream, dict(reply.get("config", {})), dict(reply.get("state", {})))


def _close_synced(f: BinaryIO) -> None:
    f.flush()
    os.fsync(f.fileno())
    f.close()


async def restore_stream(nc: Client, snap: StreamSnapshot, path: Path, *, timeout: float) -> dict[str, Any]:
    """Recreate ``snap.stream`` from the snapshot file (the stream must not exist); returns its state."""
    reply = await _api(nc, RESTORE_API.format(snap.stream), {"config": snap.config, "state": snap.state},
                       snap.stream, "restore")
    subject = str(reply["deliver_subject"])
    f = await asyncio.to_thread(path.open, "rb")
    try:
        async with asyncio.timeout(timeout):
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                ack = await nc.request(subject, chunk, timeout=API_TIMEOUT_S)
                if ack.data:  # an empty reply is the flow control; a body is an error
                    _api_reply(snap.stream, "restore", ack)
            final = await nc.request(subject, b"", timeout=max(timeout, API_TIMEOUT_S))
    except TimeoutError:
        raise BackupError(f"restore of stream {snap.stream} did not finish within {timeout:g}s") from None
    except nats.errors.Error as e:
        raise BackupError(f"restore of stream {snap.stream}: {type(e).__name__}") from None
    finally:
        f.close()
    created = _api_reply(snap.stream, "restore", final)
    state = dict(created.get("state", {}))
    if int(state.get("messages", -1)) != snap.messages:
        raise BackupInvalidError(f"restored stream {snap.stream} holds {state.get('messages')} messages; "
                                 f"the snapshot said {snap.messages}")
    return state
