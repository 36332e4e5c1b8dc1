"""ContextBuilder: the memory that goes into one request's prompt, within a token budget.

What goes in, in this fixed order (so the same memory gives the same prompt):

1. core blocks — always, in block order (persona, owner, projects, preferences, then by label);
2. graph facts about the entities the query mentions — current facts first, then closed ones;
3. learnings relevant to the query (BM25 rank);
4. archival passages (hybrid search rank).

Every item carries its provenance id (``core:<label>``, ``fact:<relation id>``, ``learning:L-0001``,
``passage:<id>``) and why it was chosen. Core blocks are never dropped; what is left of the budget is
shared between facts, learnings and passages by ``shares``, then any share one section leaves unused
goes to the others in the order above. Candidates that do not fit are reported as ``dropped``.

Tokens are estimated as ceil(chars / ``chars_per_token``), 3.5 by default: no tokenizer is downloaded
at run time, and for English text the estimate errs on the high side. Pass ``count_tokens`` to use an
exact tokenizer instead.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from memory.archival.intent import temporal_intent
from memory.context_config import ContextConfig
from memory.core.blocks import render_block, sort_blocks
from memory.errors import MemoryLayerError
from memory.protocols import Entity, MemoryStack, Relation, utcnow

ItemKind = Literal["core", "fact", "learning", "passage"]
SECTIONS: tuple[ItemKind, ...] = ("fact", "learning", "passage")
__all__ = ["ContextBuilder", "ContextConfig", "ContextItem", "MemoryContext", "candidate_names"]

RESOLVE_AT_ONCE = 16  # entity look-ups of one query in flight at once: a pasted page must not flood the node
_WORD = re.compile(r"[\w][\w.+#'-]*", re.UNICODE)
_STOP = frozenset(
    "a an and are as at be but by did do does for from had has have how i in is it its me my of on or "
    "our so that the their them then there these they this to was we were what when where which who "
    "why will with would you your about after before tell show give any all".split()
)


class ContextItem(BaseModel):
    kind: ItemKind
    id: str = Field(description="provenance: core:<label>, fact:<id>, learning:<id>, passage:<id>")
    text: str
    tokens: int
    rank: int = Field(description="1-based rank within its kind")
    score: float | None = None
    why: str


class MemoryContext(BaseModel):
    query: str
    budget: int
    used: int
    items: list[ContextItem]
    dropped: list[ContextItem] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list, description="graph entities the query mentions")
    warnings: list[str] = Field(default_factory=list, description="sections that could not be read, and why")

    def render(self) -> str:
        """The text for the prompt: one section per kind, each item tagged with its provenance id."""
        out: list[str] = []
        titles = {"core": "", "fact": "Known facts", "learning": "Learnings", "passage": "Relevant memories"}
        for kind in ("core", *SECTIONS):
            items = [i for i in self.items if i.kind == kind]
            if not items:
                continue
            if kind == "core":
                out.append("<memory_blocks>\n" + "\n".join(i.text for i in items) + "\n</memory_blocks>")
            else:
                out.append(f"## {titles[kind]}\n" + "\n".join(f"- [{i.id}] {i.text}" for i in items))
        return "\n\n".join(out)


def _fact_text(r: Relation) -> str:
    span = f"since {r.valid_from:%Y-%m-%d}"
    if r.valid_to is not None:
        span = f"{r.valid_from:%Y-%m-%d} until {r.valid_to:%Y-%m-%d}"
    return f"{r.subject} {r.type.replace('_', ' ')} {r.object} ({span})"


def candidate_names(query: str, max_words: int = 3) -> list[tuple[int, int, str]]:
    """Word n-grams (longest first) that might name an entity: (start, end, text)."""
    words = _WORD.findall(query)
    out: list[tuple[int, int, str]] = []
    for n in range(min(max_words, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            gram = words[i : i + n]
            if gram[0].lower() in _STOP or gram[-1].lower() in _STOP:
                continue
            if n == 1 and len(gram[0]) < 2:
                continue
            out.append((i, i + n, " ".join(gram).strip(".'")))
    return out


class ContextBuilder:
    """Builds a :class:`MemoryContext` from a :class:`MemoryStack` (local stores or bus clients)."""

    def __init__(
        self,
        stack: MemoryStack,
        config: ContextConfig | None = None,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        self.stack = stack
        self.config = config or ContextConfig()
        self._count = count_tokens or self._estimate

    def _estimate(self, text: str) -> int:
        return math.ceil(len(text) / self.config.chars_per_token)

    async def mentioned_entities(self, query: str) -> list[Entity]:
        """Entities the query names (by name or alias), longest mention first, each once.

        Every candidate is looked up at once (over the bus each look-up is a round trip, so one after
        another they add up with the query's length), then the longest mentions are taken first."""
        grams = candidate_names(query)
        gate = asyncio.Semaphore(RESOLVE_AT_ONCE)

        async def resolve(text: str) -> Entity | None:
            async with gate:
                return await self.stack.graph.resolve(text)

        texts = list(dict.fromkeys(text for _, _, text in grams))
        resolved = dict(zip(texts, await asyncio.gather(*(resolve(t) for t in texts)), strict=True))
        taken: set[int] = set()
        found: dict[str, Entity] = {}
        for start, end, text in grams:
            span = set(range(start, end))
            entity = resolved[text]
            if entity is None or span & taken:
                continue
            taken |= span
            found.setdefault(entity.name.lower(), entity)
        return list(found.values())

    async def build(self, query: str, *, budget: int | None = None, now: datetime | None = None) -> MemoryContext:
        cfg = self.config
        budget = budget if budget is not None else cfg.budget_tokens
        now = now or utcnow()

        # the sections read different stores (over the bus: one round trip each): read them at once
        wf: list[str] = []
        wl: list[str] = []
        wp: list[str] = []
        blocks, (entities, facts), learnings, passages = await asyncio.gather(
            self.stack.core.list_blocks(), self._fact_items(query, now, wf),
            self._learning_items(query, wl), self._passage_items(query, wp))
        warnings = wf + wl + wp  # in section order, whichever finished first
        core = [
            self._item("core", f"core:{b.label}", render_block(b), n, None, "core blocks are always in the prompt")
            for n, b in enumerate(sort_blocks(blocks), 1)
        ]

        chosen, dropped, used = self._fit(core, {"fact": facts, "learning": learnings, "passage": passages}, budget)
        if sum(i.tokens for i in core) > budget:
            warnings.append(f"core blocks alone take {used} tokens, over the budget of {budget}")
        return MemoryContext(
            query=query, budget=budget, used=used, items=chosen, dropped=dropped,
            entities=[e.name for e in entities], warnings=warnings,
        )

    async def _fact_items(self, query: str, now: datetime,
                          warnings: list[str]) -> tuple[list[Entity], list[ContextItem]]:
        if not self.config.facts:
            return [], []
        try:
            entities = await self.mentioned_entities(query)
            return entities, await self._facts(entities, now)
        except MemoryLayerError as e:
            warnings.append(f"graph: {e}")
            return [], []

    async def _learning_items(self, query: str, warnings: list[str]) -> list[ContextItem]:
        if not self.config.learnings:
            return []
        try:
            found = await self.stack.learnings.search(query, limit=self.config.learnings)
        except MemoryLayerError as e:
            warnings.append(f"learnings: {e}")
            return []
        return [
            self._item("learning", f"learning:{e.id}", f"{e.learning} — apply: {e.apply}" if e.apply
                       else e.learning, n, None, f"learning #{n} by BM25 for the query")
            for n, e in enumerate(found, 1)
        ]

    async def _passage_items(self, query: str, warnings: list[str]) -> list[ContextItem]:
        if not self.config.passages:
            return []
        try:
            hits = await self.stack.archival.search(query, limit=self.config.passages)
        except MemoryLayerError as e:
            warnings.append(f"archival: {e}")
            return []
        intent = temporal_intent(query)
        when = {"current": "; the query asks about the present: newer statements favoured",
                "past": "; the query asks about the past: no recency preference", None: ""}[intent]
        return [
            self._item(
                "passage", f"passage:{h.passage.id}",
                f"({h.passage.created_at:%Y-%m-%d}, {h.passage.source}) {h.passage.text}",
                n, h.score,
                f"passage #{n} by hybrid search (vector rank {h.vector_rank}, BM25 rank {h.bm25_rank})"
                + (f"; ranked above passage:{h.update_of}, the older statement it updates" if h.update_of
                   else "")
                + when,
            )
            for n, h in enumerate(hits, 1)
        ]

    async def _facts(self, entities: list[Entity], now: datetime) -> list[ContextItem]:
        seen: set[str] = set()
        rows: list[tuple[Relation, str]] = []
        about = await asyncio.gather(*(self.stack.graph.facts_about(e.name) for e in entities))  # one hop for all
        for e, facts in zip(entities, about, strict=True):
            current = sorted((f for f in facts if f.valid_at(now)), key=lambda f: (-f.valid_from.timestamp(), f.id))
            past = sorted(
                (f for f in facts if not f.valid_at(now)),
                key=lambda f: (-(f.valid_to or f.valid_from).timestamp(), f.id),
            )
            for f in current:
                rows.append((f, f"current fact about {e.name}, mentioned in the query"))
            for f in past:
                rows.append((f, f"past fact about {e.name} (no longer valid), mentioned in the query"))
        out: list[ContextItem] = []
        for f, why in rows:
            if f.id in seen:
                continue
            seen.add(f.id)
            out.append(self._item("fact", f"fact:{f.id}", _fact_text(f), len(out) + 1, f.confidence, why))
            if len(out) >= self.config.facts:
                break
        return out

    def _item(self, kind: ItemKind, pid: str, text: str, rank: int, score: float | None, why: str) -> ContextItem:
        return ContextItem(kind=kind, id=pid, text=text, tokens=self._count(text), rank=rank, score=score, why=why)

    def _fit(
        self, core: list[ContextItem], sections: dict[ItemKind, list[ContextItem]], budget: int
    ) -> tuple[list[ContextItem], list[ContextItem], int]:
        cfg = self.config
        used = sum(i.tokens for i in core)
        rest = max(budget - used, 0)
        shares = {"fact": cfg.share_facts, "learning": cfg.share_learnings, "passage": cfg.share_passages}
        taken: dict[ItemKind, list[ContextItem]] = {k: [] for k in SECTIONS}
        left: dict[ItemKind, list[ContextItem]] = {k: [] for k in SECTIONS}
        for kind in SECTIONS:  # pass 1: each section within its share
            quota = int(rest * shares[kind])
            for item in sections[kind]:
                if item.tokens <= quota:
                    taken[kind].append(item)
                    quota -= item.tokens
                    used += item.tokens
                else:
                    left[kind].append(item)
        dropped: list[ContextItem] = []
        for kind in SECTIONS:  # pass 2: what the shares left unused, in section order
            for item in left[kind]:
                if used + item.tokens <= budget:
                    taken[kind].append(item)
                    used += item.tokens
                else:
                    dropped.append(item.model_copy(update={"why": f"{item.why}; left out: over the token budget"}))
        chosen = list(core)
        for kind in SECTIONS:
            chosen.extend(sorted(taken[kind], key=lambda i: i.rank))
        return chosen, dropped, used
