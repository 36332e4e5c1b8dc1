"""Every NATS subject, stream and KV bucket name Hydra uses. Nothing else spells them."""

from __future__ import annotations

import re

# KV buckets
NODES_BUCKET = "hydra_nodes"  # node id -> NodeInfo JSON, refreshed by heartbeat, TTL
MODELS_BUCKET = "hydra_models"  # endpoint id -> endpoint JSON, TTL
SERVICES_BUCKET = "hydra_services"  # <node>.<kind>.<hash> -> announced service (e.g. ComfyUI) JSON, TTL
TASKS_BUCKET = "hydra_tasks"  # task id -> state, checkpoints, results
APPROVALS_BUCKET = "hydra_approvals"  # approval id -> pending ASK_FIRST action
LEADER_BUCKET = "hydra_leader"  # scheduler leadership lock, TTL
POLICY_BUCKET = "hydra_policy"  # policy state shared by the cluster: maintenance.<id> windows
SCHEDULE_BUCKET = "hydra_schedule"  # job id -> recurring job added at run time (API, CLI, requests)

# Streams
EVENTS_STREAM = "HYDRA_EVENTS"
EVENTS_SUBJECTS = "hydra.events.>"
TASKS_STREAM = "HYDRA_TASKS"
TASKS_SUBJECTS = "hydra.tasks.>"

# JetStream API (the bus probe asks for the stream names: a round trip through the server and JetStream)
JS_STREAM_NAMES = "$JS.API.STREAM.NAMES"

# Node control (NATS micro service per node)
NODE_SERVICE_NAME = "hydra-node"
MEMORY_SERVICE_NAME = "hydra-memory"
MEMORY_PREFIX = "hydra.memory"

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_node_id(node_id: str) -> bool:
    """A node id is one subject token: letters, digits, '-' and '_' (at most 64)."""
    return bool(_ID_RE.match(node_id))


def node_rpc_prefix(node_id: str) -> str:
    return f"hydra.node.{node_id}.rpc"


def node_rpc(node_id: str, verb: str) -> str:
    return f"{node_rpc_prefix(node_id)}.{verb}"


def events_subject(node_id: str) -> str:
    """Each node publishes its events on one subject, so its hash chain is one sequence."""
    return f"hydra.events.{node_id}"


def memory_rpc(verb: str) -> str:
    return f"{MEMORY_PREFIX}.{verb}"


def task_subject(kind: str) -> str:
    return f"hydra.tasks.{kind}"


TASK_PRIORITIES = (3, 2, 1, 0)  # urgent, high, normal, low: workers pull in this order
SCHEDULER_LEADER_KEY = "scheduler"  # the key in LEADER_BUCKET


def task_queue_subject(priority: int, kind: str) -> str:
    """A queued task's message: one subject per priority level, so each level has its own consumer."""
    return f"hydra.tasks.p{priority}.{kind}"


def task_queue_filter(priority: int) -> str:
    return f"hydra.tasks.p{priority}.>"


def task_consumer(priority: int) -> str:
    """The durable pull consumer every worker shares for one priority level."""
    return f"hydra-tasks-p{priority}"


def kv_subject(bucket: str, key: str = ">") -> str:
    """The subject a KV bucket's updates travel on (a core subscription sees puts and deletes live)."""
    return f"$KV.{bucket}.{key}"


NODE_EVENT_JOINED = "node.joined"
NODE_EVENT_LEFT = "node.left"
