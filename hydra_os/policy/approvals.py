"""ASK_FIRST actions waiting for the owner, in the ``hydra_approvals`` KV bucket.

One key per approval (its id). Every change is a compare-and-set on the entry's revision
(``kv.update(key, value, last=revision)``), so concurrent approvers (two CLIs, two nodes' APIs)
cannot both win a transition. States::

    pending --approve--> approved --claim (owning node)--> executing --> succeeded | failed
       |                     \\--claim finds a hash mismatch--> refused
       |--deny--> denied
       \\--expires_at passes--> expired   (expiry = denied; approve() refuses it too)

Only the node that parked the action (``node``) claims it, and the claim is itself a CAS, so an
approved action runs exactly once even if approved twice or seen by two watchers. A node that
crashes mid-execution leaves the entry ``executing``: it is never run again automatically.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue
from pydantic import BaseModel, Field

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.bus.kvscan import kv_scan
from hydra_os.bus.patience import patiently
from hydra_os.errors import BusError
from hydra_os.policy.errors import (
    ActionHashMismatchError,
    ApprovalNotFoundError,
    ApprovalStateError,
)
from hydra_os.policy.model import Action, Decision

State = Literal["pending", "approved", "denied", "expired", "executing", "succeeded", "failed", "refused"]
OPEN_STATES = ("pending", "approved", "executing")
_CAS_RETRIES = 20


class ApprovalRecord(BaseModel):
    id: str
    action: Action
    action_hash: str
    decision: Decision
    node: str = Field(description="The node that parked the action and will run it.")
    created_at: float
    expires_at: float
    state: State = "pending"
    decided_by: str | None = None
    decided_at: float | None = None
    note: str = ""
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    receipted_state: str | None = Field(default=None, description="Last state the owner node receipted.")

    def effective_state(self, now: float) -> State:
        """``pending`` past its expiry reads as ``expired`` even before the sweeper marks it."""
        if self.state == "pending" and now >= self.expires_at:
            return "expired"
        return self.state

    def hash_ok(self) -> bool:
        return self.action.content_hash() == self.action_hash


class ApprovalStore:
    def __init__(self, kv: KeyValue, clock: Callable[[], float] = time.time, *, patience_s: float = 0.0) -> None:
        self.kv = kv
        self.clock = clock
        self.patience_s = patience_s  # how long create() retries while the bus does not answer (0: not at all)

    @classmethod
    async def open(cls, bus: Bus, clock: Callable[[], float] = time.time, *,
                   patience_s: float = 0.0) -> ApprovalStore:
        return cls(await bus.kv(names.APPROVALS_BUCKET), clock, patience_s=patience_s)

    async def create(self, action: Action, decision: Decision, node: str, expiry: float) -> ApprovalRecord:
        now = self.clock()
        rec = ApprovalRecord(
            id=uuid.uuid4().hex[:12], action=action, action_hash=action.content_hash(), decision=decision,
            node=node, created_at=now, expires_at=now + expiry,
        )
        data = rec.model_dump_json().encode()
        await patiently(lambda: self._create(rec.id, data), self.patience_s, f"approval {rec.id}: create")
        return rec

    async def _create(self, approval_id: str, data: bytes) -> None:
        """Safe to repeat: a record of these bytes already there is an earlier try that landed late."""
        try:
            await self.kv.create(approval_id, data)
        except nats.js.errors.KeyWrongLastSequenceError as e:
            with contextlib.suppress(nats.errors.Error):
                if (await self.kv.get(approval_id)).value == data:
                    return
            raise BusError(f"cannot record approval in {names.APPROVALS_BUCKET}: {e}") from None
        except nats.errors.Error as e:
            raise BusError(f"cannot record approval in {names.APPROVALS_BUCKET}: {e}") from None

    async def read(self, approval_id: str) -> tuple[ApprovalRecord, int]:
        try:
            entry = await self.kv.get(approval_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.InvalidKeyError):
            raise ApprovalNotFoundError(
                f"no approval {approval_id!r}; see 'hydra approvals' for the waiting ones"
            ) from None
        if not entry.value or entry.revision is None:
            raise ApprovalNotFoundError(f"no approval {approval_id!r}")
        return ApprovalRecord.model_validate_json(entry.value), entry.revision

    async def get(self, approval_id: str) -> ApprovalRecord:
        return (await self.read(approval_id))[0]

    async def list(self, states: tuple[str, ...] | None = None) -> list[ApprovalRecord]:
        try:
            items = await kv_scan(self.kv)
        except nats.errors.Error as e:
            raise BusError(f"cannot list {names.APPROVALS_BUCKET}: {e}") from None
        now = self.clock()
        out = []
        for item in items:
            rec = ApprovalRecord.model_validate_json(item.value)
            if states is None or rec.effective_state(now) in states:
                out.append(rec)
        return sorted(out, key=lambda r: r.created_at)

    async def transition(
        self,
        approval_id: str,
        change: Callable[[ApprovalRecord], ApprovalRecord | None],
    ) -> ApprovalRecord | None:
        """Read-modify-CAS until it sticks. ``change`` returns the new record, or None to leave it.

        Returns the stored new record, or None when ``change`` declined.
        """
        for _ in range(_CAS_RETRIES):
            rec, rev = await self.read(approval_id)
            new = change(rec)
            if new is None:
                return None
            try:
                await self.kv.update(approval_id, new.model_dump_json().encode(), last=rev)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # someone else changed it; decide again on the fresh record
            return new
        raise BusError(f"approval {approval_id}: too much contention updating {names.APPROVALS_BUCKET}")

    async def approve(self, approval_id: str, by: str, expect_hash: str | None = None,
                      note: str = "") -> tuple[ApprovalRecord, bool]:
        """Approve a pending action. Returns (record, changed); approving an approved one is a no-op.

        Raises ApprovalStateError for denied/expired/finished ones and ActionHashMismatchError when
        the stored action does not hash to its recorded hash (or to ``expect_hash``, a prefix).
        """
        now = self.clock()
        rec, _ = await self.read(approval_id)
        if not rec.hash_ok():
            raise ActionHashMismatchError(
                f"approval {approval_id}: the stored action no longer matches its recorded hash "
                f"{rec.action_hash[:12]}; refusing to approve a changed action"
            )
        if expect_hash and not rec.action_hash.startswith(expect_hash):
            raise ActionHashMismatchError(
                f"approval {approval_id}: action hash is {rec.action_hash[:12]}, not {expect_hash}; "
                "the action differs from the one you reviewed"
            )
        if rec.state == "pending" and now >= rec.expires_at:
            await self.expire(approval_id)
            raise ApprovalStateError(f"approval {approval_id} expired (expiry means denied)", "expired")

        def change(r: ApprovalRecord) -> ApprovalRecord | None:
            if r.state in ("approved", "executing", "succeeded", "failed"):
                return None  # already approved: approving again changes nothing
            if r.state != "pending":
                raise ApprovalStateError(
                    f"approval {approval_id} is {r.state}; it cannot be approved", r.state
                )
            if r.action_hash != rec.action_hash or not r.hash_ok():
                raise ActionHashMismatchError(f"approval {approval_id}: the action changed while approving")
            return r.model_copy(
                update={"state": "approved", "decided_by": by, "decided_at": now, "note": note}
            )

        new = await self.transition(approval_id, change)
        if new is None:
            return (await self.get(approval_id)), False
        return new, True

    async def deny(self, approval_id: str, by: str, note: str = "") -> tuple[ApprovalRecord, bool]:
        now = self.clock()

        def change(r: ApprovalRecord) -> ApprovalRecord | None:
            if r.state in ("denied", "expired"):
                return None
            if r.state != "pending":
                raise ApprovalStateError(
                    f"approval {approval_id} is {r.state}; it can no longer be denied", r.state
                )
            return r.model_copy(update={"state": "denied", "decided_by": by, "decided_at": now, "note": note})

        new = await self.transition(approval_id, change)
        if new is None:
            return (await self.get(approval_id)), False
        return new, True

    async def expire(self, approval_id: str) -> ApprovalRecord | None:
        now = self.clock()

        def change(r: ApprovalRecord) -> ApprovalRecord | None:
            if r.state != "pending" or now < r.expires_at:
                return None
            return r.model_copy(update={"state": "expired", "decided_by": "expiry", "decided_at": now})

        return await self.transition(approval_id, change)

    async def claim(self, approval_id: str, node: str) -> ApprovalRecord | None:
        """approved -> executing, by the owning node only; None when someone else got it first."""

        def change(r: ApprovalRecord) -> ApprovalRecord | None:
            if r.state != "approved" or r.node != node:
                return None
            if not r.hash_ok():
                return r.model_copy(update={
                    "state": "refused", "finished_at": self.clock(),
                    "error": "the stored action no longer matches its recorded hash",
                })
            return r.model_copy(update={"state": "executing"})

        return await self.transition(approval_id, change)

    async def finish(self, approval_id: str, *, ok: bool, result: dict[str, Any] | None = None,
                     error: str | None = None) -> ApprovalRecord | None:
        def change(r: ApprovalRecord) -> ApprovalRecord | None:
            if r.state != "executing":
                return None
            return r.model_copy(update={
                "state": "succeeded" if ok else "failed", "finished_at": self.clock(),
                "result": result, "error": error,
            })

        return await self.transition(approval_id, change)

    async def mark_receipted(self, approval_id: str, state: str) -> None:
        def change(r: ApprovalRecord) -> ApprovalRecord | None:
            if r.state != state or r.receipted_state == state:
                return None
            return r.model_copy(update={"receipted_state": state})

        await self.transition(approval_id, change)

    async def pending_with_hash(self, action_hash: str, node: str) -> ApprovalRecord | None:
        """An open approval for the same action from ``node`` (so escalation parks it only once)."""
        now = self.clock()
        for r in await self.list(states=("pending", "approved")):
            if r.action_hash == action_hash and r.node == node and r.effective_state(now) != "expired":
                return r
        return None
