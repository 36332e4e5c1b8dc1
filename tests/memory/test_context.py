"""ContextBuilder and structured writes over real local stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memory.context import ContextBuilder, ContextConfig, candidate_names
from memory.errors import BlockLimitError, MemoryInputError
from memory.extract import MemoryWriter
from memory.protocols import Entity, LearningIn, MemoryStack, PassageIn, RelationIn
from memory.wiring import LocalMemory

MARCH = datetime(2025, 3, 1, tzinfo=UTC)
JUNE = datetime(2025, 6, 1, tzinfo=UTC)


async def _populate(stack: MemoryStack) -> None:
    w = MemoryWriter(stack, owner="Sam")
    await stack.core.append("persona", "You are Hydra, Sam's homelab assistant. Be brief.")
    await stack.graph.upsert_entity(Entity(name="Sam", type="person", aliases=["the owner"]))
    await w.record_preference("editor", "vim", valid_from=MARCH)
    await w.record_preference("editor", "helix", valid_from=JUNE)  # closes the vim fact
    await stack.graph.upsert_entity(Entity(name="Starfall", type="project", aliases=["the visual novel"]))
    await w.record_fact("Sam", "works_on", "Starfall", valid_from=MARCH)
    await stack.graph.upsert_relation(RelationIn(subject="Starfall", type="uses", object="Ren'Py", valid_from=MARCH))
    await stack.learnings.add(LearningIn(context="ComfyUI runs slowed the 70B", learning="do not render images "
                                         "while the 70B serves", apply="queue image jobs overnight"))
    await stack.learnings.add(LearningIn(context="backup failed", learning="backup disk fills up"))
    await stack.archival.add([
        PassageIn(text="Chapter 3 of Starfall ends with Mira leaving the station.", source="conversation",
                  created_at=JUNE),
        PassageIn(text="Research: ExLlamaV3 adds tensor parallel inference.", source="pipeline:research:r1"),
        PassageIn(text="The garden needs watering on Sundays.", source="conversation"),
    ])


async def test_preferences_close_old_facts_and_update_the_block(local_mem: LocalMemory) -> None:
    stack = local_mem.stack
    await _populate(stack)
    assert "editor: helix" in (await stack.core.get_block("preferences")).value
    assert "vim" not in (await stack.core.get_block("preferences")).value
    facts = await stack.graph.facts_about("Sam")
    editors = [f for f in facts if f.type == "prefers_editor"]
    assert [(f.object, f.valid_to) for f in editors] == [("vim", JUNE), ("helix", None)]
    april = datetime(2025, 4, 1, tzinfo=UTC)
    assert [f.object for f in await stack.graph.facts_about("Sam", at=april) if f.type == "prefers_editor"] == ["vim"]
    fact_passages = await stack.archival.search("Sam prefers editor helix", limit=3)
    assert any("helix" in h.passage.text for h in fact_passages)


async def test_context_has_every_kind_in_stable_order_with_provenance(local_mem: LocalMemory) -> None:
    stack = local_mem.stack
    await _populate(stack)
    builder = ContextBuilder(stack)
    ctx = await builder.build("continue the visual novel: what should Mira do in Starfall chapter 4?")
    kinds = [i.kind for i in ctx.items]
    assert kinds == sorted(kinds, key=["core", "fact", "learning", "passage"].index)
    assert [i.id for i in ctx.items if i.kind == "core"] == [
        "core:persona", "core:owner", "core:projects", "core:preferences"
    ]
    assert ctx.entities == ["Starfall"]  # "the visual novel" and "Starfall" are one entity
    facts = [i for i in ctx.items if i.kind == "fact"]
    assert facts and all(i.id.startswith("fact:") for i in facts)
    assert any("works on Starfall" in i.text for i in facts) and any("uses Ren'Py" in i.text for i in facts)
    passages = [i for i in ctx.items if i.kind == "passage"]
    assert passages[0].text.endswith("Chapter 3 of Starfall ends with Mira leaving the station.")
    assert all(i.id.startswith("passage:") for i in passages)
    assert ctx.used <= ctx.budget and ctx.used == sum(i.tokens for i in ctx.items)
    again = await builder.build("continue the visual novel: what should Mira do in Starfall chapter 4?")
    assert [i.id for i in again.items] == [i.id for i in ctx.items]  # stable
    text = ctx.render()
    assert text.index("<persona>") < text.index("## Known facts") < text.index("## Relevant memories")
    assert "[passage:" in text


async def test_current_facts_come_before_closed_ones(local_mem: LocalMemory) -> None:
    await _populate(local_mem.stack)
    ctx = await ContextBuilder(local_mem.stack).build("which editor does Sam use?", now=JUNE.replace(month=7))
    facts = [i.text for i in ctx.items if i.kind == "fact" and "editor" in i.text]
    assert facts[0].startswith("Sam prefers editor helix (since 2025-06-01")
    assert facts[1] == "Sam prefers editor vim (2025-03-01 until 2025-06-01)"
    learn = await ContextBuilder(local_mem.stack).build("can I render images while the 70B serves?")
    assert next(i.id for i in learn.items if i.kind == "learning") == "learning:L-0001"


async def test_budget_drops_lowest_ranked_and_says_so(local_mem: LocalMemory) -> None:
    stack = local_mem.stack
    await _populate(stack)
    await stack.archival.add([PassageIn(text=f"Starfall note {i}: " + "detail " * 40) for i in range(6)])
    full = await ContextBuilder(stack, ContextConfig(budget_tokens=100_000)).build("Starfall note")
    small_budget = sum(i.tokens for i in full.items if i.kind == "core") + 120
    small = await ContextBuilder(stack).build("Starfall note", budget=small_budget)
    assert small.used <= small_budget
    assert small.dropped and all("over the token budget" in d.why for d in small.dropped)
    kept = {i.id for i in small.items}
    assert {d.id for d in small.dropped}.isdisjoint(kept)
    assert len(small.items) + len(small.dropped) == len(full.items)
    tiny = await ContextBuilder(stack).build("Starfall", budget=50)  # core alone exceeds it
    assert [i.kind for i in tiny.items] == ["core"] * 4
    assert any("core blocks alone" in w for w in tiny.warnings)


def test_candidate_names_longest_first() -> None:
    names = [c[2] for c in candidate_names("what did Ada Lovelace say about the engine")]
    assert names.index("Ada Lovelace") < names.index("Ada")
    assert "the" not in names and "what" not in names


async def test_structured_write_errors_keep_the_stores_consistent(local_mem: LocalMemory) -> None:
    stack = local_mem.stack
    w = MemoryWriter(stack, owner="Sam")
    await stack.core.rewrite("preferences", "x" * 1995)
    with pytest.raises(BlockLimitError, match="trim"):
        await w.record_preference("shell", "fish")
    assert await stack.graph.resolve("fish") is None  # nothing half-written
    with pytest.raises(MemoryInputError, match="texts"):
        await w.record_pipeline_result("research", "r2", [])
    added = await w.record_pipeline_result("research", "r2", ["finding one", "finding two"], tags=["exl3"])
    got = await stack.archival.get(added[0].id)
    assert got.source == "pipeline:research:r2" and got.tags == ["research", "exl3"] and got.session == "r2"


async def test_passage_reasons_say_what_the_query_asks_about_in_time(local_mem: LocalMemory) -> None:
    await _populate(local_mem.stack)
    builder = ContextBuilder(local_mem.stack)
    now = [i for i in (await builder.build("what is Sam working on now?")).items if i.kind == "passage"]
    assert now and all("asks about the present" in i.why for i in now)
    past = [i for i in (await builder.build("what did Sam work on before Starfall?")).items if i.kind == "passage"]
    assert past and all("asks about the past" in i.why for i in past)
    plain = [i for i in (await builder.build("Starfall chapter 3")).items if i.kind == "passage"]
    assert plain and not any("asks about" in i.why for i in plain)
