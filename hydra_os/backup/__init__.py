"""Backups of everything a node needs to come back, and the restore that brings it back.

One backup is one compressed tar (``hydra-backup-<node>-<utc>.tar.zst``) holding ``manifest.json``
first (format version, node, times, hydra version, every part's sha256 and size) and then the parts:

- ``jetstream/<stream>.snap`` + ``.json``: JetStream's own stream snapshots (``$JS.API.STREAM.SNAPSHOT``)
  of the events stream (the audit chain), the task queue and the task, approval, policy, schedule and
  audit-head buckets: the server's consistent copy of each stream with its sequences and consumers;
- ``memory.jsonl``: the memory export (:mod:`memory.backup`): core blocks with history, passages with
  their vectors and model name, the graph, the learnings;
- ``files/...``: the node's small state files (``models.toml``, the NixOS failed-revision ledger, the
  scheduler's job store, healing incidents) and ``config/policy.toml`` (the owner's policy file).

Modules: :mod:`.manifest` (the format), :mod:`.jetstream` (snapshot/restore protocol), :mod:`.parts`
(collecting), :mod:`.archive` (packing and reading), :mod:`.take`, :mod:`.verify`, :mod:`.restore`,
:mod:`.retention`, :mod:`.restic`, :mod:`.service` (the daemon side: API, scheduled task kind).
"""
