"""What one delivery of a task message came to (:class:`Verdict`), and the pure decisions behind it.

:func:`decide` says what to do with a delivered message from a :class:`Delivered` snapshot of what
the worker knows (the task record, the clock, this worker's handlers and free VRAM); :func:`finish`
says how a run ended. Both are pure, so every verdict is unit-tested without NATS
(``tests/tasks/test_verdict.py``); :mod:`hydra_os.tasks.execution` gathers the inputs and carries
the verdict out (ack, nak with a delay, move to the pending set, take the task). The verdict values
are the worker's ``stats`` keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    # the message itself
    MALFORMED = "malformed"  # not a task pointer: terminated
    ORPHAN = "orphan"  # its task record is gone: terminated
    CONTENDED = "contended"  # the record kept changing under us: nak, tried again soon
    CONFLICT = "conflict"  # someone changed the record between our read and our write: read again
    # decide()
    DROPPED = "dropped"  # finished, pending, or a message from an older release: acked
    LEASED = "leased"  # another worker holds a live lease: nak until it would expire
    EARLY = "early"  # due within short_defer_s: nak until due
    DEFERRED = "deferred"  # due later: moved to the pending set
    ELSEWHERE = "elsewhere"  # no handler here, a live worker elsewhere has one: nak briefly
    NO_HANDLER = "no-handler"  # no live worker handles the kind: pending set, looked at again later
    NO_VRAM = "no-vram"  # not enough free VRAM here: nak (another node may take it)
    TAKE = "take"  # run it here
    # finish()
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"
    FAILED = "failed"
    RETRYING = "retrying"


@dataclass(frozen=True)
class Delivered:
    """What is known when a message is delivered: the record's fields that matter, and this worker."""

    now: float
    state: str
    terminal: bool
    record_release: int
    message_release: int
    lease_until: float | None
    due: float
    """When the task may start (``Windows.eligible_at``): ``<= now`` means now."""
    short_defer_s: float
    handler_here: bool
    handler_elsewhere: bool
    """A live worker on another node advertises the kind (only asked when there is no handler here)."""
    vram_mb: int
    vram_free_here: bool
    """This node has ``vram_mb`` free (True when the task needs none)."""


def decide(d: Delivered) -> Verdict:
    if d.terminal or d.state == "pending" or d.message_release < d.record_release:
        return Verdict.DROPPED
    if d.state == "running" and d.lease_until and d.lease_until > d.now:
        return Verdict.LEASED
    if d.due > d.now:
        return Verdict.EARLY if d.due - d.now <= d.short_defer_s else Verdict.DEFERRED
    if not d.handler_here:
        return Verdict.ELSEWHERE if d.handler_elsewhere else Verdict.NO_HANDLER
    if d.vram_mb and not d.vram_free_here:
        return Verdict.NO_VRAM
    return Verdict.TAKE


def finish(*, cancelled: bool, failed: bool, permanent: bool, failures: int, max_failures: int) -> Verdict:
    """How a run ended. ``failures``: the record's failure count including this run's failure."""
    if cancelled:
        return Verdict.CANCELLED
    if not failed:
        return Verdict.SUCCEEDED
    if permanent or failures >= max_failures:
        return Verdict.FAILED
    return Verdict.RETRYING
