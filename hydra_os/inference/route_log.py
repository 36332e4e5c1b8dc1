"""Route records: what ``hydra/auto`` chose, and what the owner did about it.

An append-only JSONL file, ``<state_dir>/router/routes.jsonl``, one object per line:

- ``{"event": "auto", "id", "t", "tier", "by", "text"}`` — a ``hydra/auto`` request was classified
  (``text``: the newest user turn as the classifier saw it, at most 4,000 characters — what a retrain
  learns from; ``inference.router.route_records = false`` keeps no records at all);
- ``{"event": "override", "id", "t", "from", "to", "model"}`` — the same turn of the same conversation
  (same ``id``: a hash of the conversation prefix and the turn) was sent again within
  ``override_window`` seconds naming a model of another tier: the owner retried with a larger (or
  smaller) model, so ``to`` is the better label;
- ``{"event": "feedback", "id", "t", "from", "to"}`` — explicit feedback on an answer (same meaning),
  through the node RPC ``route-feedback`` (``hydra route feedback TURN TIER``); ``TURN`` is the
  ``x-hydra-turn`` header of the ``hydra/auto`` answer.

The request path only appends a dict to a list and touches a bounded LRU; a background task writes
the list every second in a thread. When the file passes ``max_bytes`` it is rotated to
``routes.jsonl.1`` (one old generation is kept), so the records stay bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from hydra_os.inference.endpoint import Tier
from hydra_os.lifecycle import Background
from hydra_os.sections.inference import TIERS

FILE = "routes.jsonl"
TEXT_LIMIT = 4000


def records_path(state_dir: Path) -> Path:
    return state_dir / "router" / FILE


def turn_id(conversation: str | None, ask: str) -> str:
    """Same conversation prefix and same newest user turn: the same id (a retry of that turn)."""
    h = hashlib.blake2b(digest_size=10)
    h.update((conversation or "").encode())
    h.update(b"\x00")
    h.update(ask.encode("utf-8", "replace"))
    return h.hexdigest()


class RouteLog:
    def __init__(self, path: Path, *, override_window: float = 1800.0, recent: int = 4096,
                 max_bytes: int = 64 * 2**20, flush_interval: float = 1.0) -> None:
        self.path = path
        self.override_window = override_window
        self.max_bytes = max_bytes
        self.flush_interval = flush_interval
        self._recent: OrderedDict[str, tuple[Tier, float]] = OrderedDict()  # turn id -> (auto tier, when)
        self._conversations: dict[str, int] = {}  # conversation key -> turns of it in _recent
        self._recent_max = recent
        self._pending: list[dict[str, Any]] = []
        self._tasks = Background("route-log")

    # ---- the request path (no I/O) --------------------------------------------------------------
    def auto(self, conversation: str | None, ask: str, tier: Tier, by: str) -> str:
        """Note a hydra/auto decision; returns the turn id (sent back as ``x-hydra-turn``)."""
        tid = turn_id(conversation, ask)
        now = time.time()
        self._remember(tid, conversation, tier, now)
        self._pending.append({"event": "auto", "id": tid, "t": round(now, 3), "tier": tier, "by": by,
                              "text": ask[:TEXT_LIMIT]})
        return tid

    def knows(self, conversation: str | None) -> bool:
        """Whether some turn of this conversation was routed by hydra/auto recently (cheap pre-check)."""
        return conversation is not None and conversation in self._conversations

    def named(self, conversation: str | None, ask: str, tier: Tier, model: str) -> bool:
        """A request naming a model of ``tier``: an override when hydra/auto routed this same turn to
        another tier within the window. Returns whether it was one."""
        tid = turn_id(conversation, ask)
        seen = self._recent.get(tid)
        now = time.time()
        if seen is None or seen[0] == tier or now - seen[1] > self.override_window:
            return False
        self._pending.append({"event": "override", "id": tid, "t": round(now, 3), "from": seen[0], "to": tier,
                              "model": model})
        self._remember(tid, conversation, tier, now)  # a second retry compares with this one
        return True

    def feedback(self, tid: str, better: Tier) -> Tier | None:
        """The owner says turn ``tid`` wanted tier ``better``. Returns the tier hydra/auto chose when the
        turn is still remembered here (the record is kept either way: the file has the decision)."""
        seen = self._recent.get(tid)
        self._pending.append({"event": "feedback", "id": tid, "t": round(time.time(), 3),
                              "from": seen[0] if seen else None, "to": better})
        return seen[0] if seen else None

    def _remember(self, tid: str, conversation: str | None, tier: Tier, now: float) -> None:
        if tid not in self._recent and conversation is not None:
            self._conversations[conversation] = self._conversations.get(conversation, 0) + 1
        self._recent[tid] = (tier, now)
        self._recent.move_to_end(tid)
        while len(self._recent) > self._recent_max:
            self._recent.popitem(last=False)
            # _conversations may keep a key a little longer than its turns; knows() is only a pre-check
        if len(self._conversations) > 4 * self._recent_max:
            self._conversations.clear()

    # ---- writing, off the request path ------------------------------------------------------------
    async def start(self) -> None:
        self._tasks.spawn(self._run(), "writer")

    async def stop(self) -> None:
        await self._tasks.close()
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            await asyncio.to_thread(self._append, batch)
        except OSError as e:  # a full or read-only disk costs the records, never a request
            logger.warning("router: could not write {} route records to {}: {}", len(batch), self.path, e)

    def _append(self, batch: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_size > self.max_bytes:
                self.path.replace(self.path.with_name(FILE + ".1"))
        # the records hold prompt text: owner-only, like the rest of the state dir's secrets
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(fd, "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch))


# ---- reading ---------------------------------------------------------------------------------------
def read_records(state_dir: Path) -> Iterator[dict[str, Any]]:
    """Every readable record, the rotated generation first; a torn or foreign line is skipped."""
    base = records_path(state_dir)
    for p in (base.with_name(FILE + ".1"), base):
        if not p.exists():
            continue
        with p.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if isinstance(r, dict) and isinstance(r.get("id"), str):
                    yield r


@dataclass(frozen=True, slots=True)
class TierStats:
    routed: int
    overridden_up: int
    overridden_down: int

    @property
    def override_rate(self) -> float:
        return (self.overridden_up + self.overridden_down) / self.routed if self.routed else 0.0


def stats(records: Iterator[dict[str, Any]]) -> dict[Tier, TierStats]:
    """Per tier hydra/auto chose: how often, and how often the owner overrode it (up or down; one count
    per turn, the last override or feedback wins)."""
    chosen: dict[str, Tier] = {}
    final: dict[str, Tier] = {}
    for r in records:
        if r.get("event") == "auto" and r.get("tier") in TIERS:
            chosen[r["id"]] = r["tier"]
        elif r.get("event") in ("override", "feedback") and r.get("to") in TIERS:
            final[r["id"]] = r["to"]
    out: dict[Tier, TierStats] = {}
    for t in TIERS:
        ids = [i for i, c in chosen.items() if c == t]
        up = sum(1 for i in ids if i in final and TIERS.index(final[i]) > TIERS.index(t))
        down = sum(1 for i in ids if i in final and TIERS.index(final[i]) < TIERS.index(t))
        out[t] = TierStats(len(ids), up, down)
    return out


def labelled_from_records(records: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Training rows from the owner's corrections: the text of each overridden turn with the tier the
    owner moved it to. Turns nobody corrected are left out, so the model does not train on its own
    guesses."""
    text: dict[str, str] = {}
    final: dict[str, Tier] = {}
    for r in records:
        if r.get("event") == "auto" and isinstance(r.get("text"), str) and r["text"].strip():
            text[r["id"]] = r["text"]
        elif r.get("event") in ("override", "feedback") and r.get("to") in TIERS:
            final[r["id"]] = r["to"]
    return [{"id": f"rec-{i}", "tier": t, "prompt": text[i]} for i, t in final.items() if i in text]
