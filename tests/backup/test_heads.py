"""Restored audit heads are advanced along the restored chain, and only along it."""

from __future__ import annotations

from hydra_os.backup.heads import advance
from hydra_os.events import Event
from hydra_os.policy.audit import StoredEvent
from hydra_os.policy.chainhead import ChainHead


def chain(node: str, n: int, start_seq: int = 1) -> list[StoredEvent]:
    out, prev = [], None
    for i in range(n):
        ev = Event(node=node, type="t", data={"i": i}, prev=prev)
        ev.hash = ev.compute_hash()
        prev = ev.hash
        out.append(StoredEvent(seq=start_seq + i, subject=f"hydra.events.{node}", event=ev))
    return out


def head_at(se: StoredEvent, count: int) -> ChainHead:
    assert se.event is not None
    return ChainHead(node=se.node, hash=se.event.hash, stream_seq=se.seq, count=count, first_stream_seq=1, ts=0.0)


def test_a_lagging_head_moves_to_the_last_linked_event() -> None:
    events = chain("a", 5)
    got = advance({"a": head_at(events[1], 2)}, events)["a"]
    assert got.hash == events[-1].event.hash and got.stream_seq == 5 and got.count == 5  # type: ignore[union-attr]


def test_it_does_not_cross_a_break_or_touch_other_nodes() -> None:
    events = chain("a", 3)
    forged = Event(node="a", type="t", prev="0" * 64)
    forged.hash = forged.compute_hash()
    events.append(StoredEvent(seq=4, subject="hydra.events.a", event=forged))  # does not link to seq 3
    others = chain("b", 2, start_seq=10)
    heads = advance({"a": head_at(events[0], 1)}, events + others)
    assert heads["a"].stream_seq == 3 and heads["a"].count == 3
    assert "b" not in heads  # a node without a recorded head gets none invented
