"""Memory in conversations over real local stores: the rules that keep what the owner states, a
multi-session preference script (each later context holds the current preference, not the superseded
one), project progress and continuity, the no-model quotation, feedback as a learning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from memory.archiver import Exchange, ExchangeArchiver, archive
from memory.context_config import ContextConfig
from memory.conversation import (
    assemble,
    continuity_subject,
    conversation_id,
    merge_system,
    provenance_header,
    quote_answer,
)
from memory.extract import MemoryWriter
from memory.feedback import Rating, record_feedback
from memory.protocols import MemoryStack, Role, SearchFilters
from memory.statements import Preference, ProjectState, preferences, project_line_update, project_states
from memory.wiring import LocalMemory

T0 = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)
CFG = ContextConfig()


def test_preference_rules_read_everyday_phrasing() -> None:
    assert preferences("I prefer metric units, thanks.") == [Preference("units", "metric")]
    assert preferences("Oh and call me Sam from now on") == [Preference("name", "Sam")]
    assert preferences("Shorter answers please.") == [Preference("answer_length", "short")]
    assert preferences("I don't eat pork anymore.") == [Preference("diet_pork", "does not eat pork")]
    assert preferences("My favourite editor is Helix") == [Preference("editor", "Helix")]
    assert preferences("What is the weather like in Berlin?") == []
    assert preferences("Can you convert 5 miles to km?") == []
    assert preferences("Should I use metric units for the recipe?") == []  # a question states nothing
    assert preferences("Do I prefer metric units") == []


def test_project_rules_and_the_block_line() -> None:
    assert project_states("I finished chapter 3 of the visual novel!") == [
        ProjectState("visual novel", "finished chapter 3")]
    assert project_states("The homelab migration is on hold.") == [ProjectState("homelab migration", "on hold")]
    assert project_states("How do I finish a novel?") == []
    assert project_states("Did I finish chapter 3 of the visual novel?") == []
    block = "visual novel: drafted chapter 2 (as of 2026-04-01)\nNAS rebuild: ordering disks (as of 2026-03-01)"
    out = project_line_update(block, ProjectState("visual novel", "finished chapter 3"), "2026-05-01", 3000)
    assert out.splitlines() == ["NAS rebuild: ordering disks (as of 2026-03-01)",
                                "visual novel: finished chapter 3 (as of 2026-05-01)"]
    tight = project_line_update(block, ProjectState("garden", "planted tomatoes"), "2026-05-01", 110)
    assert len(tight) <= 110 and tight.endswith("garden: planted tomatoes (as of 2026-05-01)")
    assert "drafted chapter 2" not in tight  # the oldest line gave way


def test_conversation_ids_header_user_or_first_turn_hash() -> None:
    turns = [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello there"}]
    longer = [*turns, {"role": "assistant", "content": "hi"}, {"role": "user", "content": "more"}]
    assert conversation_id("conv-9", "alice", turns) == "conv-9"
    assert conversation_id(None, "alice", turns) == "user:alice"
    assert conversation_id(None, None, turns) == conversation_id(None, None, longer)  # the same chat, resent
    assert conversation_id(None, None, turns) != conversation_id(None, None, [{"role": "user", "content": "x"}])


def test_merge_system_keeps_the_clients_prompt() -> None:
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}]
    out = merge_system(msgs, "- [passage:p1] fact")
    assert out[0]["content"].startswith("You are terse.\n\n") and "[passage:p1] fact" in out[0]["content"]
    assert msgs[0]["content"] == "You are terse."  # the client's list is untouched
    bare = merge_system([{"role": "user", "content": "hi"}], "x")
    assert [m["role"] for m in bare] == ["system", "user"]


async def _turn(stack: MemoryStack, session: str, user: str, at: datetime) -> None:
    await archive(MemoryWriter(stack, owner="Sam"), Exchange(session, user, "Noted.", at, "hydra/assistant"))


async def _prefs(stack: MemoryStack, query: str) -> str:
    ctx = await assemble(stack, CFG, query, deadline_s=30)
    return next(i.text for i in ctx.items if i.id == "core:preferences")


async def test_preferences_said_once_are_kept_across_sessions(local_mem: LocalMemory) -> None:
    stack = local_mem.stack
    await _turn(stack, "s1", "I prefer metric units. Also, call me Sam.", T0)
    s2 = await _prefs(stack, "How far is it to Lyon?")
    assert "units: metric" in s2 and "name: Sam" in s2
    await _turn(stack, "s2", "Shorter answers please, the long ones are tiring.", T0 + timedelta(days=1))
    s3 = await _prefs(stack, "Explain RAID 5")
    assert "answer_length: short" in s3 and "units: metric" in s3
    await _turn(stack, "s3", "Actually, I prefer imperial units now. And I don't eat pork anymore.",
                T0 + timedelta(days=20))
    s4 = await _prefs(stack, "Give me a dinner recipe for four")
    assert "units: imperial" in s4 and "units: metric" not in s4  # the current one, not the superseded one
    assert "diet_pork: does not eat pork" in s4 and "name: Sam" in s4 and "answer_length: short" in s4
    facts = {(f.type, f.object): f for f in await stack.graph.facts_about("Sam")}
    assert facts[("prefers_units", "metric")].valid_to == T0 + timedelta(days=20)  # closed, not lost
    assert facts[("prefers_units", "imperial")].valid_to is None
    # each turn is in the archive with its role, time and conversation
    hits = await stack.archival.search("shorter answers", limit=5, filters=SearchFilters(session="s2"))
    assert hits and hits[0].passage.role == Role.USER and hits[0].passage.created_at == T0 + timedelta(days=1)


async def test_project_progress_and_where_was_i(local_mem: LocalMemory) -> None:
    stack = local_mem.stack
    await _turn(stack, "c1", "I drafted chapter 2 of the visual novel, the station scene works now.", T0)
    await _turn(stack, "c2", "Ordered two 8TB disks for the NAS rebuild.", T0 + timedelta(days=2))
    await _turn(stack, "c3", "I finished chapter 3 of the visual novel; Mira leaves on the night train.",
                T0 + timedelta(days=5))
    projects = (await stack.core.get_block("projects")).value
    assert "visual novel: finished chapter 3 (as of 2026-05-06)" in projects
    assert "drafted chapter 2" not in projects  # the line was updated, not duplicated
    assert continuity_subject("Where was I with the visual novel?") == "the visual novel"
    ctx = await assemble(stack, CFG, "Where was I with the visual novel?", deadline_s=30)
    core = next(i.text for i in ctx.items if i.id == "core:projects")
    assert "finished chapter 3" in core
    passages = [i.text for i in ctx.items if i.kind == "passage"]
    assert passages and "night train" in passages[0]  # the last conversation about it comes first
    assert "ids=core:persona,core:owner,core:projects,core:preferences" in provenance_header(ctx)


async def test_no_model_quotes_memory_with_date_and_source(local_mem: LocalMemory) -> None:
    stack = local_mem.stack
    await _turn(stack, "d1", "I replaced the failing disk in the NAS with a new WD Red today.", T0)
    await _turn(stack, "d2", "Tomorrow I want to bake bread.", T0 + timedelta(days=1))
    ctx = await assemble(stack, CFG, "When did I replace the disk?", deadline_s=30)
    text = quote_answer(ctx)
    assert "quoting memory" in text and "2026-05-01" in text and "source: chat" in text
    assert "I replaced the failing disk in the NAS with a new WD Red today." in text
    empty = await assemble(stack, ContextConfig(passages=0, facts=0, learnings=0), "anything", deadline_s=30)
    assert "nothing to quote" in quote_answer(empty)


async def test_feedback_is_a_learning_tied_to_the_conversation(local_mem: LocalMemory) -> None:
    stack = local_mem.stack
    got = await record_feedback(stack.learnings, conversation="conv-7", rating=Rating.DOWN,
                                response_id="chatcmpl-1", comment="too long, I asked for a number")
    assert "conversation:conv-7" in got.tags and got.source == "conversation:conv-7/chatcmpl-1"
    ctx = await assemble(stack, CFG, "answer with a number, not too long", deadline_s=30)
    assert f"learning:{got.id}" in [i.id for i in ctx.items]


async def test_archiver_drops_when_full_and_never_waits(local_mem: LocalMemory) -> None:
    async def stack() -> MemoryStack:
        return local_mem.stack

    arch = ExchangeArchiver(stack, owner="Sam", queue_size=1)  # not started: the queue stays full
    assert arch.submit(Exchange("a", "first", "ok", T0, "m"))
    assert not arch.submit(Exchange("a", "second", "ok", T0, "m"))
    assert arch.status()["dropped"] == 1
    arch.start()
    await arch.drained(30)
    await arch.stop()
    assert arch.status() == {"archived": 1, "dropped": 1, "failed": 0, "waiting": 0}


async def test_no_model_quotes_the_current_preference_not_an_older_passage(local_mem: LocalMemory) -> None:
    """A changed preference lives in the ``preferences`` block (and a fact about the owner, which a question
    in the first person does not name): the quotation is that line, not the passage the owner has since
    contradicted."""
    stack = local_mem.stack
    writer = MemoryWriter(stack, owner="Sam")
    await writer.remember("My favourite editor is Helix", source="owner", extract=False, at=T0)
    await writer.record_preference("editor", "Neovim")
    ctx = await assemble(stack, CFG, "what editor do I use?", deadline_s=30)
    text = quote_answer(ctx)
    assert '[core:preferences]: "editor: Neovim"' in text and "Helix" not in text, text
    # a question the preferences do not touch still quotes the passage
    assert "Helix" in quote_answer(await assemble(stack, CFG, "what did I say about Helix?", deadline_s=30))
