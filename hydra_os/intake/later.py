"""The ``intake.ops`` task kind: an operation asked for later ("restart ollama tonight").

When the task runs it hands the request (without its time phrase) to the intake of the node that took
it (``ask`` node RPC), which plans the action and submits it through that node's policy gate, so the
policy decides at run time. A reply of "failed" is retried by the queue; a refusal, a request the
intake cannot act on, or a question back fails the task at once with the reply as its error.
"""

from __future__ import annotations

from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.intake.model import ASK_VERB
from hydra_os.node import rpc
from hydra_os.tasks.errors import PermanentTaskError, TaskError
from hydra_os.tasks.registry import TaskContext, TaskRegistry

KIND = "intake.ops"
_OK = {"done", "pending-approval"}


def register(registry: TaskRegistry, bus: Bus, timeout_s: float, kind: str = KIND) -> None:
    async def run(ctx: TaskContext) -> dict[str, Any]:
        text, node = ctx.params.get("request"), ctx.params.get("node")
        if not isinstance(text, str) or not text.strip():
            raise PermanentTaskError("params.request: expected the operation in words, e.g. 'restart ollama'")
        if not isinstance(node, str) or not node:
            raise PermanentTaskError("params.node: expected the node whose intake takes the request")
        reply = await rpc.call(bus, node, ASK_VERB, {"text": text}, timeout=timeout_s + 30)
        status = str(reply.get("status"))
        summary = {"status": status, "reply": reply.get("reply"), "decision": reply.get("decision"),
                   "approval_id": reply.get("approval_id"), "summary": reply.get("reply")}
        if status in _OK:
            return summary
        if status in ("failed", "deferred"):
            raise TaskError(str(reply.get("reply")))
        raise PermanentTaskError(str(reply.get("reply")))

    registry.register(kind, run, "An operation asked for later, submitted through the policy gate when it runs")
