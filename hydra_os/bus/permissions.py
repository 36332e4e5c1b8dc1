"""Per-node NATS users for a cluster's nats-server: a node writes only its own registry entries.

``hydra bus user NODE`` writes the node's ``bus.credentials_file`` (an nkey user seed) and prints
its ``authorization.users`` entry (the public key and permissions) for the server's config. With
these permissions a node may publish its own membership entry (``$KV.hydra_nodes.<node>``), its
own endpoints (``$KV.hydra_models.<node>.*``, the keys ``endpoint_key`` builds) and its own
events (``hydra.events.<node>``), but not another node's, and may not purge or delete those
streams or their messages through the JetStream API. Everything else a node needs (RPC, memory,
tasks, the shared buckets, JetStream requests, replies) stays open.
"""

from __future__ import annotations

import json
import os
from typing import Any

import nkeys

from hydra_os.bus import names

# buckets every node writes (tasks, approvals, leadership, maintenance windows, schedule)
SHARED_BUCKETS = (
    names.TASKS_BUCKET, names.APPROVALS_BUCKET, names.LEADER_BUCKET, names.POLICY_BUCKET, names.SCHEDULE_BUCKET,
)
# streams whose messages belong to one node each: no node may purge or delete in them
PROTECTED_STREAMS = (f"KV_{names.NODES_BUCKET}", f"KV_{names.MODELS_BUCKET}", f"KV_{names.SERVICES_BUCKET}",
                     names.EVENTS_STREAM)


def node_permissions(node_id: str) -> dict[str, Any]:
    """The nats-server ``permissions`` of node ``node_id``."""
    allow = [
        "hydra.node.>", f"{names.MEMORY_PREFIX}.>", "hydra.tasks.>", names.events_subject(node_id),
        "_INBOX.>", "$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "$SRV.>",
        *(names.kv_subject(b) for b in SHARED_BUCKETS),
        names.kv_subject(names.NODES_BUCKET, node_id),
        names.kv_subject(names.MODELS_BUCKET, f"{node_id}.>"),
        names.kv_subject(names.SERVICES_BUCKET, f"{node_id}.>"),
    ]
    deny = [f"$JS.API.STREAM.{op}.{s}" for s in PROTECTED_STREAMS for op in ("PURGE", "DELETE", "MSG.DELETE")]
    return {"publish": {"allow": allow, "deny": deny}, "subscribe": {"allow": [">"]}}


def user_entry(user: str, password: str) -> dict[str, Any]:
    """One unrestricted ``authorization.users`` entry (the embedded server's single local user)."""
    return {"user": user, "password": password}


def node_user_entry(nkey_public: str, node_id: str) -> dict[str, Any]:
    """The entry of node ``node_id``'s nkey user: only the public key, so the server config holds no secret."""
    return {"nkey": nkey_public, "permissions": node_permissions(node_id)}


def new_node_user(node_id: str) -> tuple[bytes, dict[str, Any]]:
    """A fresh nkey user for a node: (its seed, for ``bus.credentials_file``; the server's users entry)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(seed).public_key.decode()
    return seed, node_user_entry(public, node_id)


def authorization_block(users: list[dict[str, Any]]) -> str:
    """A nats-server ``authorization`` block (its config format accepts JSON)."""
    return "authorization " + json.dumps({"users": users}, indent=2) + "\n"
