"""The intake: a request in the owner's words -> an answer, a task, a pipeline run, an ops action through
the policy gate, a memory write, or a clarifying question; the reply says in one sentence what was done
and when.

Classification: time phrases by :class:`~hydra_os.intake.timeparse.TimeParser` (deterministic, owner's
zone), intent by :func:`~hydra_os.intake.rules.classify`; below ``ambiguous_below`` a model (when one is
up) classifies with a JSON schema (:mod:`hydra_os.intake.classify`). Execution is in
:mod:`hydra_os.intake.execute`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hydra_os.intake.classify import classify_with_model
from hydra_os.intake.deps import IntakeDeps
from hydra_os.intake.errors import RequestInputError
from hydra_os.intake.execute import execute
from hydra_os.intake.model import Reply, RequestIn, WhenOut
from hydra_os.intake.rules import Intent, classify
from hydra_os.intake.stream import StreamItem, answer_stream, one
from hydra_os.intake.timeparse import TimeParser, When


@dataclass
class IntakeService(IntakeDeps):
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = self.settings.owner
        self.parser = TimeParser(o.timezone, o.wake_time, o.overnight_start)

    async def understand(self, text: str, now: datetime | None = None) -> tuple[Intent, str, list[str]]:
        """(intent, who classified it, notes). Never acts."""
        when = self.parser.parse(text, now)
        intent = classify(text, when)
        notes: list[str] = []
        by = "rules"
        if intent.confidence < self.config.ambiguous_below and self.config.model_classification:
            if self.chat is not None and await self.chat.available():
                better = await classify_with_model(self.chat, text, intent)
                if better is not None:
                    intent, by = replace(better, when=when), "model"
                else:
                    notes.append("the model could not classify it; the rules decided")
            else:
                notes.append("no model is available; the rules decided")
        return intent, by, notes

    async def _begin(self, req: RequestIn, now: datetime | None) -> tuple[Intent, Reply]:
        """The request checked and understood (a 422 names the field); nothing done yet."""
        text = " ".join(req.text.split())
        if not text:
            raise RequestInputError("text: expected a request in words, got only whitespace")
        if len(text) > self.config.max_request_chars:
            raise RequestInputError(f"text: {len(text)} characters, at most {self.config.max_request_chars} "
                                    "(intake.max_request_chars)")
        intent, by, notes = await self.understand(text, now)
        intent = replace(intent, subject=original_case(text, intent.subject))
        base = Reply(reply="", status="clarify", intent=intent.intent, kind=intent.kind, subject=intent.subject,
                     when=when_out(intent.when), classified_by=by, confidence=intent.confidence,  # type: ignore[arg-type]
                     reason=intent.reason, notes=notes)
        return intent, base

    async def _act(self, intent: Intent, base: Reply, req: RequestIn) -> Reply:
        if req.dry_run:
            return base.model_copy(update={"status": "done", "reply": f"Would treat this as {describe(intent)}; "
                                                                      "nothing was done (dry run)."})
        return self._count(await execute(self, intent, base, req))

    def _count(self, reply: Reply) -> Reply:
        self.counts[reply.status] = self.counts.get(reply.status, 0) + 1
        return reply

    async def handle(self, req: RequestIn, now: datetime | None = None) -> Reply:
        intent, base = await self._begin(req, now)
        return await self._act(intent, base, req)

    async def open_stream(self, req: RequestIn, now: datetime | None = None) -> AsyncIterator[StreamItem]:
        """The request as a stream (:mod:`hydra_os.intake.stream`). Everything up to the model's answer
        happens here, before the stream starts, so a bad request is still a plain 4xx; a question is
        answered as the model writes it; any other outcome is done now and is the stream's one item."""
        intent, base = await self._begin(req, now)
        if req.dry_run or intent.intent != "answer":
            return one(await self._act(intent, base, req))
        return self._counted(answer_stream(self, base, req))

    async def _counted(self, items: AsyncIterator[StreamItem]) -> AsyncIterator[StreamItem]:
        async for item in items:
            yield self._count(item) if isinstance(item, Reply) else item

    def status(self) -> dict[str, Any]:
        return {"replies": dict(self.counts), "model_classification": self.config.model_classification}


def original_case(text: str, subject: str) -> str:
    """The rules lowercase what they extract; give the subject back in the owner's spelling."""
    if not subject:
        return subject
    i = text.lower().find(subject.lower())
    return text[i:i + len(subject)] if i >= 0 else subject


def when_out(when: When | None) -> WhenOut | None:
    if when is None:
        return None
    return WhenOut(kind=when.kind, at=when.at.isoformat() if when.at else None, window=when.window,
                   cron=dict(when.cron), describe=when.describe)


def describe(intent: Intent) -> str:
    what = {"answer": "a question to answer", "task": f"a {intent.kind or 'queued'} task",
            "pipeline": f"a {intent.kind} pipeline run", "ops": f"an operation ({intent.kind})",
            "remember": "something to remember", "clarify": "unclear"}[intent.intent]
    return what + (f" {intent.when.describe}" if intent.when is not None and intent.when.kind != "now" else "")

