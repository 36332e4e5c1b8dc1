"""Bringing the recorded audit chain heads up to the restored stream.

The heads bucket is snapshotted before the events stream (:mod:`hydra_os.backup.parts`), so a
recorded head can lag the chain by the events published in between. A node started on a restored
state dir with a lagging head would take the newer events for a gap and continue its chain from the
old head, breaking it. Here each head is advanced along the chain exactly as the node itself would
have recorded those events: only through events whose ``prev`` links to the head, one by one.
"""

from __future__ import annotations

from hydra_os.policy.audit import StoredEvent
from hydra_os.policy.chainhead import ChainHead


def advance(recorded: dict[str, ChainHead], events: list[StoredEvent]) -> dict[str, ChainHead]:
    """Each node's head moved forward over the events after it that continue its chain."""
    out = dict(recorded)
    for se in events:
        head = out.get(se.node)
        ev = se.event
        if head is None or ev is None or se.seq <= head.stream_seq or ev.prev != head.hash:
            continue
        out[se.node] = head.model_copy(update={
            "hash": ev.hash, "stream_seq": se.seq, "count": head.count + 1, "ts": ev.ts,
        })
    return out
