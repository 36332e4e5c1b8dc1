"""``python -m memory.archival.optimize_child SHARD_DIR PARENT_PID``: one ``EdgeShard.optimize()``, in its own process.

qdrant-edge-py's ``optimize()`` keeps the GIL for its whole run (it never detaches from Python), and
the run lasts as long as building the HNSW index over every unindexed segment: 17-24 s for 20 000
passages of 384 dimensions on a loaded two-core machine. In the daemon's process that froze every
thread with it: the event loop, the bus heartbeat, the API, a memory export and the SIGTERM handler,
so a stop could outlast systemd's stop timeout. The binding offers no way to cancel or bound a run
(its stop flag is internal), so :class:`memory.archival.edge.EdgeEngine` flushes and closes its shard,
runs this child on it, and opens the shard again when the child exits; any read or write of the
owner's, an export or a stop ends the child with SIGTERM (the daemon retries once the store is quiet),
which holds no acknowledged write (the shard was flushed and closed first, and an
interrupted optimisation leaves only its own ``temp_segments/``, which the engine clears).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

import qdrant_edge as qe

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """If the daemon dies (even by SIGKILL) this child must not go on writing its shard: a restarted
    daemon opens the same files. Linux delivers SIGKILL to us when our parent exits."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent was already gone before the prctl took effect
        raise SystemExit(3)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m memory.archival.optimize_child SHARD_DIR PARENT_PID", file=sys.stderr)
        return 2
    _die_with_parent(int(argv[1]))
    shard = qe.EdgeShard.load(argv[0])
    try:
        shard.optimize()
    finally:
        shard.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
