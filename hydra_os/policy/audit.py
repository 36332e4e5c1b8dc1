"""Reading and verifying the audit trail on ``HYDRA_EVENTS`` (``hydra audit log`` / ``verify``).

Each node's events form one hash chain on its own subject: event *n* carries ``prev`` = hash of
event *n-1*, and its own ``hash`` covers its content and ``prev``. :func:`verify_chains` reports:

- ``edited``: an event whose content no longer hashes to its recorded hash;
- ``broken``: an event whose ``prev`` is not the hash of the node's previous event in the stream
  (an event between them was removed, or an edited copy was republished out of place);
- ``head-missing``: the node's live head hash (asked over RPC) is not in the stream: its newest
  events were removed;
- ``tail-missing``: the head the node recorded outside the stream (:mod:`~hydra_os.policy.chainhead`,
  KV ``hydra_audit``) is not in the stream although older events of the node are: its newest events
  were removed (also while it was down, or before a kill -9 and restart);
- ``missing``: fewer of the node's events are in the stream than it recorded since its head record
  began (events removed anywhere in the chain, counted);
- ``purged``: the node recorded a head but none of its events is in the stream, and the stream's
  limits (max age, max messages) cannot have removed its newest one;
- ``start-missing``: the chain starts with a ``prev`` although the stream's limits cannot have removed
  anything from its front (the stream is younger than its max age and never held more messages than
  its limit): its first events were deleted. Where the limits can explain it, that is a note;
- ``unreadable``: a message that is not an event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.errors import RpcError
from hydra_os.events import Event
from hydra_os.node import rpc
from hydra_os.policy.chainhead import ChainHead, recorded_heads
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
    recorded: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node, "events": self.events, "first_seq": self.first_seq, "last_seq": self.last_seq,
            "head": self.head, "recorded": self.recorded, "ok": self.ok, "notes": self.notes,
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
    try:
        return await _drain(sub, timeout) if await _has_any(sub) else []
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _has_any(sub: JetStreamContext.PushSubscription) -> bool:
    """Does anything match? (otherwise read until the server says none is pending)"""
    ci = await sub.consumer_info()
    sent = ci.delivered.consumer_seq if ci.delivered and ci.delivered.consumer_seq else 0
    return bool(ci.num_pending or sent or sub.pending_msgs or sub.delivered)


async def _drain(sub: JetStreamContext.PushSubscription, timeout: float) -> list[StoredEvent]:
    """Read until the server says no message is pending; each one as a StoredEvent, unreadable ones too."""
    out: list[StoredEvent] = []
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


@dataclass(frozen=True)
class StreamFacts:
    """What the stream's own state and limits say about messages that may have left it legitimately."""

    first_seq: int = 1
    last_seq: int = 0
    created: float = 0.0
    max_age: float = 0.0
    max_msgs: int = 0
    max_bytes: int = 0
    max_msgs_per_subject: int = 0
    now: float = field(default_factory=time.time)

    def front_limits(self) -> list[str]:
        """The limits that can have removed the stream's oldest messages by now (empty: none can)."""
        out = []
        if self.max_age > 0 and self.now - self.created > self.max_age:
            out.append(f"max age {self.max_age:g}s (the stream is older than that)")
        if self.max_msgs > 0 and self.last_seq > self.max_msgs:
            out.append(f"max {self.max_msgs} messages (it has held {self.last_seq})")
        if self.max_msgs_per_subject > 0 and self.last_seq > self.max_msgs_per_subject:
            out.append(f"max {self.max_msgs_per_subject} messages per subject")
        if self.max_bytes > 0:
            out.append(f"max {self.max_bytes} bytes")
        return out

    def could_have_aged(self, ts: float, seq: int) -> bool:
        """Could the limits have removed a message stored at ``ts`` with sequence ``seq``?"""
        return ((self.max_age > 0 and self.now - ts > self.max_age)
                or (self.max_msgs > 0 and self.last_seq - seq >= self.max_msgs)
                or self.max_msgs_per_subject > 0 or self.max_bytes > 0)


def _positive(v: float | int | None) -> float:
    return float(v) if v and v > 0 else 0.0


async def stream_facts(bus: Bus) -> StreamFacts:
    info = await bus.js.stream_info(names.EVENTS_STREAM)
    cfg, st = info.config, info.state
    return StreamFacts(
        first_seq=int(st.first_seq), last_seq=int(st.last_seq),
        created=info.created.timestamp() if info.created else 0.0,
        max_age=_positive(cfg.max_age), max_msgs=int(_positive(cfg.max_msgs)),
        max_bytes=int(_positive(cfg.max_bytes)), max_msgs_per_subject=int(_positive(cfg.max_msgs_per_subject)),
    )


def verify_chains(events: list[StoredEvent], *, stream: StreamFacts | None = None,
                  heads: dict[str, str | None] | None = None,
                  recorded: dict[str, ChainHead] | None = None) -> dict[str, ChainReport]:
    """Check every node's chain. ``heads``: live head hashes asked from running nodes; ``recorded``:
    the heads nodes persisted outside the stream (KV ``hydra_audit``)."""
    stream = stream or StreamFacts()
    walks: dict[str, _ChainWalk] = {}
    for se in events:
        walks.setdefault(se.node, _ChainWalk(ChainReport(node=se.node), stream)).step(se)
    reports = {node: w.report for node, w in walks.items()}
    hashes = {node: w.hashes for node, w in walks.items()}
    for node, rec in (recorded or {}).items():
        _check_recorded(reports.setdefault(node, ChainReport(node=node)), rec, hashes.get(node, set()),
                        [se for se in events if se.node == node], stream)
    for node, head in (heads or {}).items():
        _check_head(reports.setdefault(node, ChainReport(node=node)), head, hashes.get(node, set()))
    return reports


class _ChainWalk:
    """One node's chain, event by event in stream order: every event's own hash and its link to the last."""

    def __init__(self, report: ChainReport, stream: StreamFacts) -> None:
        self.report = report
        self.stream = stream
        self.hashes: set[str] = set()
        self.started = False
        self.last: Event | None = None  # None after an unreadable event: its successor's link cannot be checked
        self.last_seq = 0

    def step(self, se: StoredEvent) -> None:
        rep = self.report
        rep.events += 1
        rep.first_seq = rep.first_seq or se.seq
        rep.last_seq = se.seq
        ev = se.event
        if ev is None:
            rep.problems.append(Problem(rep.node, se.seq, "unreadable", se.error or "not an event"))
        else:
            self.hashes.add(ev.hash)
            self._check_event(se, ev)
            if self.started:
                self._check_link(se, ev)
            else:
                self._check_start(se, ev)
        self.started = True
        self.last, self.last_seq = ev, se.seq

    def _check_event(self, se: StoredEvent, ev: Event) -> None:
        node = self.report.node
        if ev.node != node:
            self.report.problems.append(Problem(node, se.seq, "edited",
                                                f"event says node {ev.node!r} but sits on {se.subject}"))
        if ev.compute_hash() != ev.hash:
            self.report.problems.append(Problem(node, se.seq, "edited",
                                                f"{ev.type} event {ev.id[:8]} does not match its recorded hash: "
                                                "its content was changed"))

    def _check_start(self, se: StoredEvent, ev: Event) -> None:
        if ev.prev is None:
            return
        limits = self.stream.front_limits() if self.stream.first_seq > 1 else []
        if not limits:
            self.report.problems.append(Problem(
                self.report.node, se.seq, "start-missing",
                "the chain starts with a prev hash although the stream's limits "
                "cannot have removed anything yet: its first event(s) were deleted"))
        else:
            self.report.notes.append(f"chain starts at seq {se.seq}; older events may have aged out "
                                     f"({'; '.join(limits)})")

    def _check_link(self, se: StoredEvent, ev: Event) -> None:
        before = self.last
        if before is not None and ev.prev != before.hash:
            self.report.problems.append(Problem(
                self.report.node, se.seq, "broken",
                f"{ev.type} event's prev is {str(ev.prev)[:12]} but the previous event (seq "
                f"{self.last_seq}) hashes to {before.hash[:12]}: an event between them was removed, "
                "or an edited copy was republished",
            ))


def _check_head(rep: ChainReport, head: str | None, hashes: set[str]) -> None:
    """The live head a running node reported must be in the stream."""
    rep.head = head
    if head is not None and head not in hashes:
        rep.problems.append(Problem(rep.node, None, "head-missing",
                                    f"the node's latest event {head[:12]} is not in the stream: "
                                    "its newest event(s) were removed"))


def _check_recorded(rep: ChainReport, head: ChainHead, hashes: set[str], mine: list[StoredEvent],
                    stream: StreamFacts) -> None:
    """Compare what the node recorded outside the stream with what is in it."""
    rep.recorded = head.model_dump()
    said = f"event #{head.count} at seq {head.stream_seq} ({head.hash[:12]})"
    if not mine:
        if stream.could_have_aged(head.ts, head.stream_seq):
            rep.notes.append(f"no events left; its newest ({said}) may have aged out")
        else:
            rep.problems.append(Problem(rep.node, None, "purged",
                                        f"all events of node {rep.node} are missing: it recorded {said}, and the "
                                        "stream's limits cannot have removed it"))
        return
    # events recorded since the head record began that are still in the stream
    since = [se for se in mine if se.seq >= head.first_stream_seq]
    # exact unless the stream's limits may have removed some of them from its front
    countable = head.first_stream_seq >= stream.first_seq or not stream.front_limits()
    missing = head.count - len(since) if countable else None
    if head.hash not in hashes:
        if head.stream_seq < stream.first_seq and stream.could_have_aged(head.ts, head.stream_seq):
            rep.notes.append(f"its recorded head ({said}) may have aged out")
            return
        n = f"newest {missing}" if missing and missing > 0 else "newest"
        rep.problems.append(Problem(rep.node, None, "tail-missing",
                                    f"the {n} event(s) of node {rep.node} are missing: it recorded {said}, the "
                                    f"last one left is seq {mine[-1].seq}"))
    elif missing and missing > 0:
        rep.problems.append(Problem(rep.node, None, "missing",
                                    f"{missing} of the {head.count} events node {rep.node} recorded since seq "
                                    f"{head.first_stream_seq} are not in the stream"))


async def verify_all(bus: Bus) -> dict[str, ChainReport]:
    """Every node's chain checked with what is known of its head (``hydra audit verify``, the web page)."""
    facts = await stream_facts(bus)
    recorded = await recorded_heads(bus)
    nodes = {e.node for e in await read_events(bus)} | set(recorded)
    heads: dict[str, str | None] = {}
    for n in sorted(nodes):  # ask heads first: events published meanwhile are then in the stream
        try:
            heads[n] = (await rpc.call(bus, n, "policy_audit_head", timeout=1.0)).get("head")
        except RpcError:
            pass  # node not running: its chain is checked without its head
    events = await read_events(bus)
    return verify_chains(events, stream=facts, heads=heads, recorded=recorded)
