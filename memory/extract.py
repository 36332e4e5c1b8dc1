"""Writing memory: structured writes that need no model, and optional LLM extraction from free text.

Structured writes (:class:`MemoryWriter`): a fact (a graph relation, plus a passage saying it), a
preference (the ``preferences`` core block line ``key: value`` and a single-valued
``prefers_<key>`` relation from the owner, so an old preference is closed, not lost), and a pipeline
result (passages tagged with the pipeline and run, optionally with the facts it found).

Extraction (:class:`ChatExtractor`): entities and relations from free text through one
OpenAI-compatible ``/v1/chat/completions`` call (the Hydra gateway and its router) with a JSON schema
response format — at most one model call per write. It is off when ``memory.extract.url`` is unset;
when the endpoint fails the passage is still stored and the result says why extraction was skipped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, Field, ValidationError

from hydra_os.chat.client import OpenAIChat, ask_json
from hydra_os.chat.errors import ChatError
from memory.errors import MemoryBackendError, MemoryInputError, MemoryLayerError
from memory.protocols import AddResult, Entity, MemoryStack, PassageIn, Relation, RelationIn, Role, utcnow

_TYPE = re.compile(r"[^a-z0-9_]+")


def relation_type(text: str) -> str:
    """``"Works on"`` -> ``works_on``: the form relation types take in the graph."""
    t = _TYPE.sub("_", text.strip().lower()).strip("_")
    if not t or not t[0].isalpha():
        raise MemoryInputError(f"relation: {text!r} is not a usable relation type (expected words, e.g. works_on)")
    return t[:64]


class ExtractedEntity(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    type: str = "thing"


class ExtractedRelation(BaseModel):
    subject: str = Field(min_length=1, max_length=200)
    relation: str = Field(min_length=1, max_length=64)
    object: str = Field(min_length=1, max_length=200)
    confidence: float = Field(default=0.7, ge=0, le=1)


class Extraction(BaseModel):
    entities: list[ExtractedEntity] = Field(default_factory=list)
    relations: list[ExtractedRelation] = Field(default_factory=list)


EXTRACTION_SCHEMA: dict[str, Any] = {
    "name": "memory_extraction",
    "schema": Extraction.model_json_schema(),
}

SYSTEM_PROMPT = (
    "Extract the entities (people, projects, tools, places, topics) and the relations between them that the "
    "text states as facts. Relation names are short verbs in snake_case (works_on, prefers_editor, lives_in). "
    "Only what the text says; no guesses. Answer with JSON matching the schema."
)


class ChatExtractor:
    """One chat call per text to an OpenAI-compatible endpoint (Hydra's one chat client), answered as
    JSON by schema."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 60.0,
                 max_chars: int = 8000) -> None:
        # memory.extract.url names the server root; the chat client takes the OpenAI base (…/v1)
        self._chat = OpenAIChat(base_url.rstrip("/") + "/v1", model=model, token=api_key, timeout_s=timeout_s)
        self.model = model
        self.max_chars = max_chars

    @property
    def calls(self) -> int:
        return self._chat.calls

    async def extract(self, text: str) -> Extraction:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text[: self.max_chars]}]
        try:
            reply = await ask_json(self._chat, messages, EXTRACTION_SCHEMA)
            return Extraction.model_validate(reply)
        except ChatError as e:  # memory's errors are its bus contract: a chat failure travels as a backend one
            raise MemoryBackendError(f"extraction: {e}") from e
        except ValidationError as e:
            raise MemoryBackendError(f"extraction: the model sent no valid extraction JSON: {e}") from e

    async def close(self) -> None:
        await self._chat.close()


class RememberResult(BaseModel):
    passage: AddResult
    relations: list[Relation] = Field(default_factory=list)
    extraction: Literal["off", "done", "skipped"] = "off"
    note: str | None = Field(default=None, description="why extraction was skipped, when it was")


class MemoryWriter:
    """Writes into a :class:`MemoryStack` (local or over the bus)."""

    def __init__(self, stack: MemoryStack, extractor: ChatExtractor | None = None, owner: str = "owner") -> None:
        self.stack = stack
        self.extractor = extractor
        self.owner = owner

    async def remember(
        self,
        text: str,
        *,
        source: str = "conversation",
        tags: list[str] | None = None,
        session: str | None = None,
        extract: bool = True,
        role: Role | None = None,
        at: datetime | None = None,
    ) -> RememberResult:
        """Store a passage; with an extractor, also the entities and relations the text states.

        A chat turn passes its ``role`` (an assistant turn is then linked to the owner turn it
        answers), its conversation as ``session`` and when it was said as ``at`` (default now): search
        reads dates in a question ("on December 26th") against that time."""
        passage = PassageIn(
            text=text, source=source, tags=tags or [], session=session, role=role, created_at=at or utcnow()
        )
        added = (await self.stack.archival.add([passage]))[0]
        if not extract or self.extractor is None:
            return RememberResult(passage=added)
        if added.status == "duplicate":
            return RememberResult(passage=added, extraction="skipped", note="already stored; extracted before")
        try:
            found = await self.extractor.extract(text)
        except MemoryLayerError as e:
            logger.warning("memory extraction skipped: {}", e)
            return RememberResult(passage=added, extraction="skipped", note=str(e))
        types = {e.name.lower(): e.type for e in found.entities}
        for ent in found.entities:
            await self.stack.graph.upsert_entity(Entity(name=ent.name, type=ent.type))
        relations = []
        for r in found.relations:
            try:
                rtype = relation_type(r.relation)
            except MemoryInputError:
                continue  # a relation name we cannot use; the passage still holds the text
            relations.append(await self.stack.graph.upsert_relation(RelationIn(
                subject=r.subject, type=rtype, object=r.object, confidence=r.confidence, source=added.id,
                subject_type=types.get(r.subject.lower()), object_type=types.get(r.object.lower()),
            )))
        return RememberResult(passage=added, relations=relations, extraction="done")

    async def record_fact(
        self,
        subject: str,
        relation: str,
        obj: str,
        *,
        valid_from: datetime | None = None,
        single_valued: bool | None = None,
        source: str = "owner",
        confidence: float = 1.0,
    ) -> Relation:
        """A fact as a graph relation, plus a passage that says it (so search finds it too)."""
        rtype = relation_type(relation)
        when = valid_from or utcnow()
        text = f"{subject} {rtype.replace('_', ' ')} {obj}"
        added = (await self.stack.archival.add(
            [PassageIn(text=text, source=source, tags=["fact"], created_at=when)]
        ))[0]
        return await self.stack.graph.upsert_relation(RelationIn(
            subject=subject, type=rtype, object=obj, valid_from=when, single_valued=single_valued,
            source=added.id, confidence=confidence,
        ))

    async def record_preference(self, key: str, value: str, *, valid_from: datetime | None = None) -> Relation:
        """``key: value`` in the preferences block, and a single-valued ``prefers_<key>`` fact."""
        rtype = relation_type(f"prefers_{key}")
        label = rtype.removeprefix("prefers_")
        block = await self.stack.core.get_block("preferences")
        line = f"{label}: {value}"
        current = next((ln for ln in block.value.splitlines() if ln.startswith(f"{label}:")), None)
        if current is None:
            await self.stack.core.append("preferences", line)
        elif current != line:
            await self.stack.core.replace("preferences", current, line)
        return await self.record_fact(self.owner, rtype, value, valid_from=valid_from, single_valued=True)

    async def record_pipeline_result(
        self,
        pipeline: str,
        run_id: str,
        texts: list[str],
        *,
        tags: list[str] | None = None,
        facts: list[RelationIn] | None = None,
    ) -> list[AddResult]:
        """Passages from a pipeline run (source ``pipeline:<name>:<run>``) and the facts it established."""
        if not texts:
            raise MemoryInputError("texts: expected at least one passage from the pipeline run")
        source = f"pipeline:{pipeline}:{run_id}"
        added = await self.stack.archival.add(
            [PassageIn(text=t, source=source, tags=[pipeline, *(tags or [])], session=run_id) for t in texts]
        )
        for f in facts or []:
            await self.stack.graph.upsert_relation(f if f.source else f.model_copy(update={"source": source}))
        return added
