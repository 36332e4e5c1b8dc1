"""Reading every current entry of a KV bucket (or of a key pattern) without leaking a consumer.

nats-py's ``kv.keys()``, ``kv.history()`` and a ``kv.watch()`` used as a one-shot listing each make
an ordered push consumer that the server keeps for 300 s after ``stop()`` (nats-py's default
inactivity threshold): a dashboard polling a listing a few times a second ran the server into its
consumer limit within minutes (issue 10 item 9). :func:`kv_scan` instead creates one ephemeral
pull consumer (last value per key, no acks, in memory), fetches in batches until the server says
nothing is pending, and deletes the consumer explicitly; a short inactivity threshold is the
backstop when the delete cannot be sent (connection lost, process killed).

Live watchers (the approval runner, the maintenance mirror) stay on ``kv.watch``: there is one
per node and it lives as long as the node; they pass ``WATCH_INACTIVE_S`` so that a watcher restarted
after a bus error does not leave its old consumer behind for 300 s.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue

SCAN_BATCH = 256
# the server removes a consumer left behind by a crashed or disconnected scanner after this long
INACTIVE_THRESHOLD_S = 10.0
# a live watcher's consumer is active while subscribed; once dropped, the server removes it after this
WATCH_INACTIVE_S = 30.0
# headers that mark a KV entry as a delete/purge/expiry marker rather than a value
_MARKER_HEADERS = ("KV-Operation", "Nats-Marker-Reason")


class KvItem(NamedTuple):
    key: str
    value: bytes
    revision: int


async def kv_scan(kv: KeyValue, pattern: str = ">", *, timeout: float = 5.0) -> list[KvItem]:
    """Every live key matching ``pattern`` (a NATS subject pattern relative to the bucket, e.g.
    ``task.>``) with its latest non-empty value and revision, in stream order.

    Raises ``nats.errors.TimeoutError`` when the server stops delivering before the scan is complete,
    and nats' JetStream errors as they come (callers translate them).
    """
    # nats-py's KeyValue has no public accessor for its JetStream context, stream or key prefix
    js, stream, prefix = kv._js, kv._stream, kv._pre
    config = ConsumerConfig(
        filter_subject=prefix + pattern,
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=INACTIVE_THRESHOLD_S,
        mem_storage=True,
        num_replicas=1,
    )
    info = await js.add_consumer(stream, config)
    try:
        if not info.num_pending:
            return []
        return await _fetch_all(js, stream, info.name, prefix, timeout)
    finally:
        # not found = the server already dropped it; a closed connection = the threshold will
        with contextlib.suppress(nats.js.errors.NotFoundError, nats.errors.Error):
            await js.delete_consumer(stream, info.name)


async def _fetch_all(js: nats.js.JetStreamContext, stream: str, consumer: str, prefix: str,
                     timeout: float) -> list[KvItem]:
    sub = await js.pull_subscribe_bind(consumer=consumer, stream=stream)
    latest: dict[str, KvItem] = {}
    try:
        while True:
            msgs = await sub.fetch(SCAN_BATCH, timeout=timeout)
            for msg in msgs:
                meta = msg.metadata
                key = msg.subject[len(prefix):]
                if msg.data and not any(h in (msg.headers or {}) for h in _MARKER_HEADERS):
                    latest[key] = KvItem(key, msg.data, meta.sequence.stream)
                else:
                    latest.pop(key, None)
                if meta.num_pending == 0:
                    return sorted(latest.values(), key=lambda i: i.revision)
    finally:
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()
