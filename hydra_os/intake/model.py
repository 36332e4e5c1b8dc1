"""The request the owner sends and the reply the intake gives (``POST /v1/requests``, ``hydra ask``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ASK_VERB = "ask"  # the node RPC verb of the intake (``hydra ask``)

Status = Literal["answered", "queued", "scheduled", "started", "done", "pending-approval", "refused", "deferred",
                 "failed", "clarify", "unsupported", "remembered"]


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=100_000, description="The request in the owner's words.")
    dry_run: bool = Field(default=False, description="Only classify: say what would be done, do nothing.")
    session: str | None = Field(default=None, max_length=128, description="Conversation id, kept with memories.")
    request_id: str | None = Field(
        default=None, pattern=r"^[\x21-\x7e]{1,120}$",
        description="Client's id for this request: sending it again returns the task queued the first time.",
    )
    stream: bool = Field(
        default=False,
        description="Over HTTP: answer as server-sent events (text/event-stream): a question's answer in `delta` "
                    "events as the model writes it, then one `reply` event (every other outcome is that one event); "
                    "a failure after the start is one `error` event. The `ask` RPC verb answers whole.",
    )


class WhenOut(BaseModel):
    kind: str
    at: str | None = None
    window: str | None = None
    cron: dict[str, str] = Field(default_factory=dict)
    describe: str


class Reply(BaseModel):
    """What was understood, what was done, and one sentence saying so (``reply``)."""

    reply: str = Field(description="One sentence: what was done and when (the answer itself for questions).")
    status: Status
    intent: str
    kind: str | None = None
    subject: str = ""
    when: WhenOut | None = None
    classified_by: Literal["rules", "model"] = "rules"
    confidence: float = 0.0
    reason: str = Field(default="", description="Why it was classified so.")
    task_id: str | None = None
    job_id: str | None = Field(default=None, description="The recurring job, for requests with 'every ...'.")
    next_run: str | None = Field(default=None, description="When the recurring job runs next (ISO 8601).")
    approval_id: str | None = None
    decision: dict[str, Any] | None = Field(default=None, description="Policy decision for ops actions.")
    answer: str | None = Field(default=None, description="The model's answer, for questions.")
    question: str | None = Field(default=None, description="The clarifying question, when one is asked.")
    notes: list[str] = Field(default_factory=list, description="What was degraded and why (no model, no memory).")


class Delta(BaseModel):
    """One piece of a streamed answer (the ``delta`` event), in the order the model wrote it."""

    text: str
