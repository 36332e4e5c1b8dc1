"""Plan search queries for a topic: deterministic from its words, or asked of a model when one is up."""

from __future__ import annotations

import re

from loguru import logger

from hydra_os.chat.client import ChatModel, ask_json
from hydra_os.chat.errors import ChatError
from pipelines.research.model import terms

_FILLER = re.compile(r"^(?:the |a |an )?(?:latest |recent |newest |current )?", re.IGNORECASE)

PLAN_SCHEMA = {
    "name": "research_plan",
    "schema": {
        "type": "object",
        "properties": {"queries": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 20}},
        "required": ["queries"],
        "additionalProperties": False,
    },
}


def plan_queries(topic: str, max_queries: int) -> list[str]:
    """The topic itself, its core words, then the core words with what a practitioner searches for."""
    cleaned = _FILLER.sub("", topic.strip()).strip(" .?!") or topic.strip()
    core = " ".join(terms(cleaned)) or cleaned
    out: list[str] = []
    for q in (cleaned, core, f"{core} release", f"{core} benchmark", f"{core} paper", f"{core} guide"):
        q = " ".join(q.split())
        if q and q.lower() not in (x.lower() for x in out):
            out.append(q)
    return out[:max_queries]


async def plan_with_model(model: ChatModel, topic: str, max_queries: int) -> list[str] | None:
    """Queries from the model, or None when it is unavailable or answers nonsense."""
    messages = [
        {"role": "system", "content": "You plan web and paper searches. Reply with JSON: distinct, short search "
                                      f"queries (at most {max_queries}) that together cover the topic."},
        {"role": "user", "content": f"Topic: {topic}"},
    ]
    try:
        reply = await ask_json(model, messages, PLAN_SCHEMA, max_tokens=300)
    except ChatError as e:
        logger.info("research planning without a model: {}", e)
        return None
    queries = [" ".join(str(q).split()) for q in reply.get("queries", []) if isinstance(q, str) and q.strip()]
    unique = list(dict.fromkeys(q for q in queries if len(q) <= 200))
    return unique[:max_queries] or None
