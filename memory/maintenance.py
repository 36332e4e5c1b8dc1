"""Overnight memory maintenance, through the ordinary store protocols (so it runs against a local
:class:`~memory.protocols.MemoryStack` or the memory node over the bus alike):

1. **Archival optimisation**: ``archival.optimize()`` (index build and segment merge; the memory node
   runs it in the background).
2. **Consolidation of duplicate passages**: passages that nearly repeat an earlier one (cosine and word
   Jaccard at or above the store's near-duplicate thresholds, the same test the store applies on add)
   but were stored as canonical (added concurrently, imported, or stored before the test existed) are
   linked to the earliest one (``near_duplicate_of``) by re-importing them verbatim with the link: search
   then shows the group once. Nothing is deleted.
3. **Expiry of superseded core-block history**: each block keeps its last ``history_keep`` edits; older
   ones (superseded values) are dropped. The block's current value is untouched.
4. **Graph integrity check**: relations whose subject or object entity does not exist, facts that end
   before they start, and single-valued relation types with more than one current fact per subject.
   Reported, not repaired (which fact is right is the owner's call).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import numpy as np
from pydantic import BaseModel, Field

from memory.archival.dedup import jaccard, words
from memory.protocols import GraphRecord, MemoryStack, OptimiseOutcome, Passage, Relation, iter_pages

PAGE = 500
SIM_CHUNK = 1024  # rows of the similarity matrix computed at once (bounded memory)


class MaintenanceReport(BaseModel):
    optimized: bool = False
    passages_scanned: int = 0
    duplicates_linked: list[tuple[str, str]] = Field(
        default_factory=list, description="(passage id, the earlier passage it is now linked to)"
    )
    consolidation_skipped: str | None = None
    history_dropped: dict[str, int] = Field(default_factory=dict, description="block label -> edits dropped")
    graph_entities: int = 0
    graph_relations: int = 0
    graph_problems: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        parts = [
            "archival optimised" if self.optimized else "archival not optimised",
            f"{len(self.duplicates_linked)} near-duplicate passage(s) linked of {self.passages_scanned}"
            + (f" ({self.consolidation_skipped})" if self.consolidation_skipped else ""),
            f"{sum(self.history_dropped.values())} superseded core-block edit(s) expired",
            f"graph: {self.graph_entities} entities, {self.graph_relations} facts, "
            f"{len(self.graph_problems)} problem(s)",
        ]
        return "; ".join(parts)


def find_near_duplicates(passages: list[Passage], cosine: float, jac: float) -> list[tuple[str, str]]:
    """(later passage, earliest canonical it nearly repeats) for canonical passages with vectors."""
    canon = sorted((p for p in passages if p.near_duplicate_of is None and p.vector),
                   key=lambda p: (p.created_at, p.id))
    if len(canon) < 2:
        return []
    m = np.asarray([p.vector for p in canon], dtype=np.float32)
    m /= np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    word_sets = [words(p.text) for p in canon]
    linked: dict[int, int] = {}
    for start in range(0, len(canon), SIM_CHUNK):
        sims = m[start:start + SIM_CHUNK] @ m.T
        for r, row in enumerate(sims):
            i = start + r
            for k in np.nonzero(row[:i] >= cosine)[0]:  # only earlier passages, in time order
                j = int(k)
                if jaccard(word_sets[i], word_sets[j]) >= jac:
                    linked[i] = linked.get(j, j)  # link to the group's earliest passage
                    break
    return [(canon[i].id, canon[j].id) for i, j in sorted(linked.items())]


def graph_problems(records: list[GraphRecord], single_valued: list[str]) -> list[str]:
    names = {r.entity.name.casefold() for r in records if r.entity is not None}
    rels: list[Relation] = [r.relation for r in records if r.relation is not None]
    problems = []
    current: dict[tuple[str, str], list[Relation]] = defaultdict(list)
    for rel in rels:
        for end in (rel.subject, rel.object):
            if end.casefold() not in names:
                problems.append(f"fact {rel.id} ({rel.subject} {rel.type} {rel.object}): no entity {end!r}")
        if rel.valid_to is not None and rel.valid_to < rel.valid_from:
            problems.append(f"fact {rel.id} ({rel.subject} {rel.type} {rel.object}) ends before it starts")
        if rel.valid_to is None and rel.type in single_valued:
            current[(rel.subject.casefold(), rel.type)].append(rel)
    for (subject, type_), facts in sorted(current.items()):
        if len(facts) > 1:
            objs = ", ".join(sorted(f.object for f in facts))
            problems.append(f"{subject} has {len(facts)} current {type_} facts (single-valued): {objs}")
    return problems


async def consolidate(stack: MemoryStack, report: MaintenanceReport, cosine: float, jac: float,
                      max_passages: int) -> None:
    passages = [p async for p in iter_pages(stack.archival.export_page, PAGE)]
    report.passages_scanned = len(passages)
    if len(passages) > max_passages:
        report.consolidation_skipped = f"more than {max_passages} passages; raise max_passages to scan them all"
        return
    pairs = find_near_duplicates(passages, cosine, jac)
    by_id = {p.id: p for p in passages}
    relinked = [by_id[dup].model_copy(update={"near_duplicate_of": root}) for dup, root in pairs]
    for i in range(0, len(relinked), PAGE):
        await stack.archival.import_passages(relinked[i:i + PAGE])
    report.duplicates_linked = pairs


async def expire_history(stack: MemoryStack, report: MaintenanceReport, keep: int) -> None:
    for block in await stack.core.list_blocks():
        history = await stack.core.history(block.label)
        if len(history) > keep:
            await stack.core.import_block(block, history[-keep:])
            report.history_dropped[block.label] = len(history) - keep


async def check_graph(stack: MemoryStack, report: MaintenanceReport, single_valued: list[str]) -> None:
    records = [r async for r in iter_pages(stack.graph.export_page, PAGE)]
    report.graph_entities = sum(r.entity is not None for r in records)
    report.graph_relations = sum(r.relation is not None for r in records)
    report.graph_problems = graph_problems(records, single_valued)


async def run_maintenance(stack: MemoryStack, *, cosine: float, jaccard_min: float, single_valued: list[str],
                          history_keep: int = 200, max_passages: int = 200_000,
                          now: datetime | None = None) -> MaintenanceReport:
    """All four steps, in order; a step's own error propagates (the task retries)."""
    report = MaintenanceReport()
    # an optimisation that gave way to the owner's reads or writes is not reported as done
    report.optimized = await stack.archival.optimize() in (OptimiseOutcome.COMPLETED, OptimiseOutcome.SCHEDULED)
    await consolidate(stack, report, cosine, jaccard_min, max_passages)
    await expire_history(stack, report, history_keep)
    await check_graph(stack, report, single_valued)
    return report
