"""Thumbs up/down on an answer, kept as a learning tied to its conversation (``hydra feedback``,
``POST /v1/feedback``). Learnings go into later prompts by relevance, so a thumbs-down with a comment
("too long, I asked for a number") steers the next similar answer."""

from __future__ import annotations

from enum import StrEnum

from memory.protocols import Learning, LearningIn, Learnings


class Rating(StrEnum):
    UP = "up"
    DOWN = "down"


async def record_feedback(learnings: Learnings, *, conversation: str, rating: Rating, response_id: str | None = None,
                          comment: str | None = None) -> Learning:
    what = f"answer {response_id} in conversation {conversation}" if response_id else f"conversation {conversation}"
    verdict = "liked" if rating is Rating.UP else "disliked"
    note = (comment or "").strip()
    learning = f"The owner {verdict} this answer" + (f": {note}" if note else ".")
    apply = ("keep answering like this" if rating is Rating.UP
             else (f"avoid what the owner disliked: {note}" if note else "answer differently next time"))
    return await learnings.add(LearningIn(
        context=f"feedback ({rating.value}) on the {what}", learning=learning, apply=apply,
        tags=["feedback", rating.value, f"conversation:{conversation}"[:120]],
        source=f"conversation:{conversation}"[:200] + (f"/{response_id}" if response_id else ""),
    ))
