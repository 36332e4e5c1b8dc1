"""Reading and verifying the audit trail on ``HYDRA_EVENTS`` (``hydra audit log`` / ``verify``).

Each node's events form one hash chain on its own subject: event *n* carries ``prev`` = hash of
event *n-1*, and its own ``hash`` covers its content and ``prev``. :func:`verify_chains` reports:

- ``edited``: an event whose content no longer hashes to its recorded hash;
- ``broken``: an event whose ``prev`` is not the hash of the node's previous event in the stream
  (an event between them was removed, or an edited copy was republished out of place);
- ``head-missing``: the node's live head hash (asked over RPC) is not in the stream: its newest
  events were removed;
- ``start-missing``: the chain starts with a ``prev`` although the stream still holds its first
  message ever (sequence 1), so the node's first events were removed (if older events aged out,
  that is a note, not a problem);
- ``unreadable``: a message that is not an event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import nats.js.errors
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.events import Event
from hydra_os.policy.errors import AuditError


@dataclass
class StoredEvent:
    seq: int
    subject: str
    event: Event | None
    error: str | None = None

    @property
    def node(self) -> str:
        return self.subject.removeprefix(names.events_subject(""))


@dataclass
class Problem:
    node: str
    seq: int | None
    kind: str
    detail: str


@dataclass
class ChainReport:
    node: str
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head: str | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node, "events": self.events, "first_seq": self.first_seq, "last_seq": self.last_seq,
            "head": self.head, "ok": self.ok, "notes": self.notes,
            "problems": [p.__dict__ for p in self.problems],
        }


async def read_events(bus: Bus, *, since: float | None = None, node: str | None = None,
                      timeout: float = 5.0) -> list[StoredEvent]:
    """Every event on the stream (or those since a UNIX time / of one node), in stream order."""
    try:
        info = await bus.js.stream_info(names.EVENTS_STREAM)
    except nats.js.errors.NotFoundError:
        raise AuditError(f"stream {names.EVENTS_STREAM} does not exist; is a Hydra daemon running?") from None
    except nats.errors.Error as e:
        raise AuditError(f"cannot read {names.EVENTS_STREAM}: {e}") from None
    if info.state.messages == 0:
        return []
    subject = names.events_subject(node) if node else names.EVENTS_SUBJECTS
    config = ConsumerConfig(inactive_threshold=30.0)
    policy = DeliverPolicy.ALL
    if since is not None:
        policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = dt.datetime.fromtimestamp(since, dt.UTC)
    sub = await bus.js.subscribe(subject, stream=names.EVENTS_STREAM, ordered_consumer=True,
                                 deliver_policy=policy, config=config)
    out: list[StoredEvent] = []
    try:
        ci = await sub.consumer_info()
        sent = ci.delivered.consumer_seq if ci.delivered and ci.delivered.consumer_seq else 0
        if not ci.num_pending and not sent and not sub.pending_msgs and not sub.delivered:
            return []  # nothing matches (otherwise read until the server says none is pending)
        while True:
            try:
                msg = await sub.next_msg(timeout=timeout)
            except nats.errors.TimeoutError:
                raise AuditError(f"reading {names.EVENTS_STREAM} stalled after {len(out)} events") from None
            meta = msg.metadata
            try:
                ev: Event | None = Event.model_validate_json(msg.data)
                err = None
            except ValidationError as e:
                ev, err = None, f"not an event: {e.errors()[0]['msg']}"
            out.append(StoredEvent(seq=meta.sequence.stream, subject=msg.subject, event=ev, error=err))
            if meta.num_pending == 0:
                return out
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def stream_first_seq(bus: Bus) -> int:
    info = await bus.js.stream_info(names.EVENTS_STREAM)
    return int(info.state.first_seq)


def verify_chains(events: list[StoredEvent], *, stream_first_seq: int = 1,
                  heads: dict[str, str | None] | None = None) -> dict[str, ChainReport]:
    """Check every node's chain; ``heads`` are live head hashes asked from running nodes."""
    reports: dict[str, ChainReport] = {}
    last: dict[str, Event | None] = {}
    last_seq: dict[str, int] = {}
    hashes: dict[str, set[str]] = {}
    for se in events:
        node = se.node
        rep = reports.setdefault(node, ChainReport(node=node))
        rep.events += 1
        rep.first_seq = rep.first_seq or se.seq
        rep.last_seq = se.seq
        ev = se.event
        if ev is None:
            rep.problems.append(Problem(node, se.seq, "unreadable", se.error or "not an event"))
            last[node] = None  # cannot check the next link
            last_seq[node] = se.seq
            continue
        hashes.setdefault(node, set()).add(ev.hash)
        if ev.node != node:
            rep.problems.append(Problem(node, se.seq, "edited",
                                        f"event says node {ev.node!r} but sits on {se.subject}"))
        if ev.compute_hash() != ev.hash:
            rep.problems.append(Problem(node, se.seq, "edited",
                                        f"{ev.type} event {ev.id[:8]} does not match its recorded hash: "
                                        "its content was changed"))
        if node not in last:
            if ev.prev is not None:
                if stream_first_seq <= 1:
                    rep.problems.append(Problem(node, se.seq, "start-missing",
                                                "the chain starts with a prev hash although nothing has aged "
                                                "out of the stream: its first event(s) were removed"))
                else:
                    rep.notes.append(f"chain starts at seq {se.seq}; older events aged out")
        else:
            before = last[node]
            if before is not None and ev.prev != before.hash:
                rep.problems.append(Problem(
                    node, se.seq, "broken",
                    f"{ev.type} event's prev is {str(ev.prev)[:12]} but the previous event (seq "
                    f"{last_seq[node]}) hashes to {before.hash[:12]}: an event between them was removed, "
                    "or an edited copy was republished",
                ))
        last[node] = ev
        last_seq[node] = se.seq
    for node, head in (heads or {}).items():
        rep = reports.setdefault(node, ChainReport(node=node))
        rep.head = head
        if head is not None and head not in hashes.get(node, set()):
            rep.problems.append(Problem(node, None, "head-missing",
                                        f"the node's latest event {head[:12]} is not in the stream: "
                                        "its newest event(s) were removed"))
    return reports
