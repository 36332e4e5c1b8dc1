"""Model classification of requests the rules are unsure about: one chat call with a JSON schema.

The rules always run first (deterministic, no model). Only when their confidence is below
``intake.ambiguous_below`` and a model is available is the model asked; its answer is validated
(intent from the fixed set, kind from the kinds the intake knows) and anything else keeps the rules'
answer. Time phrases are never the model's business: the parser's result is kept either way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from loguru import logger

from hydra_os.chat.client import ChatModel, ask_json
from hydra_os.chat.errors import ChatError
from hydra_os.intake.rules import Intent

INTENTS = ["answer", "task", "pipeline", "ops", "remember", "clarify"]
KINDS = {"task": {"research", "reminder"}, "pipeline": {"briefing", "creative"}}

SCHEMA = {
    "name": "intake_classification",
    "schema": {
        "type": "object",
        "properties": {
            "intent": {"type": "string", "enum": INTENTS},
            "kind": {"type": "string", "description": "task: research|reminder; pipeline: briefing|creative; "
                                                      "ops: the operation; else empty"},
            "subject": {"type": "string", "description": "what the request is about, in the owner's words"},
            "question": {"type": "string", "description": "clarify only: the question to ask back"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["intent", "kind", "subject", "question", "confidence"],
        "additionalProperties": False,
    },
}

SYSTEM = (
    "You route requests for a homelab assistant. Classify the request as one of: answer (a question or a direct "
    "ask to answer now), task (work to queue: research a topic, or a reminder), pipeline (briefing, or creative "
    "project work such as the visual novel), ops (an operation on services, models, nodes, disks or NixOS), "
    "remember (a fact or preference to keep), clarify (only when it truly cannot be decided). Reply with JSON."
)


async def classify_with_model(model: ChatModel, text: str, rules: Intent) -> Intent | None:
    """The model's reading of ``text``, or None when it is unavailable or answers out of bounds."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Request: {text}"}]
    try:
        out = await ask_json(model, messages, SCHEMA, max_tokens=200)
    except ChatError as e:
        logger.info("intake: model classification unavailable, keeping the rules' answer: {}", e)
        return None
    intent = out.get("intent")
    if intent not in INTENTS:
        return None
    ok, kind = _kind(intent, str(out.get("kind") or "").strip().lower() or None, rules)
    if not ok:
        return None
    subject = " ".join(str(out.get("subject") or "").split()) or rules.subject or text
    question = str(out.get("question") or "").strip() or None
    if intent == "clarify" and not question:
        question = "Could you say a bit more about what you want done?"
    return replace(rules, intent=intent, kind=kind, subject=subject[:500], confidence=_confidence(out),
                   reason="classified by the model", question=question)


def _kind(intent: str, kind: str | None, rules: Intent) -> tuple[bool, str | None]:
    """(usable, kind): the model's kind checked against the kinds the intake knows for ``intent``."""
    if intent in KINDS and kind not in KINDS[intent]:
        # an unknown task kind is research; an unknown pipeline is not one the intake can start
        return (True, "research") if intent == "task" else (False, None)
    if intent == "ops":
        # an operation the rules cannot name is not one the intake can act on safely
        kind = rules.kind if rules.intent == "ops" else None
        return kind is not None, kind
    if intent in ("answer", "remember", "clarify"):
        return True, None
    return True, kind


def _confidence(out: dict[str, Any]) -> float:
    try:
        return max(0.0, min(1.0, float(out.get("confidence", 0.7))))
    except (TypeError, ValueError):
        return 0.7
