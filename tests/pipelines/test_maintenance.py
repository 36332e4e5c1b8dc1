"""memory.maintenance on a real memory node (real embedded stores, served on the bus), run as a task by a
real worker: near-duplicates stored as canonical get linked, old core-block history expires, the graph
check finds a fact that ends before it starts and two current single-valued facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hydra_os.bus.client import Bus
from hydra_os.tasks.model import TaskSpec
from hydra_os.tasks.registry import TaskRegistry
from memory.maintenance import graph_problems
from memory.protocols import Block, Entity, GraphRecord, MemoryStack, Passage, PassageIn, Relation, iter_pages
from memory.wiring import LocalMemory, client_stack
from pipelines.maintenance import KIND, register
from tests.pipelines.conftest import memory_config
from tests.tasks.conftest import MakeWorker, done, queue_for, wait_task

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def _seed(local: LocalMemory) -> tuple[str, str, str]:
    st = local.stack
    [a] = await st.archival.add([PassageIn(text="My favourite editor is Helix, I switched from Vim.",
                                           created_at=T0)])
    [other] = await st.archival.add([PassageIn(text="The NAS has four 8 TB disks in RAID-Z1.", created_at=T0)])
    exported = {p.id: p async for p in iter_pages(st.archival.export_page, 100)}
    # an import from another node/backup: the same fact in other punctuation, stored canonical
    dup = exported[a.id].model_copy(update={"id": "7d0b3c7e-0000-4000-8000-000000000001",
                                            "text": "my favourite editor is Helix; I switched from vim!",
                                            "created_at": T0 + timedelta(days=3)})
    await st.archival.import_passages([dup])
    await st.core.create_block(Block(label="garden", value="tomatoes", limit=5000))
    for i in range(30):
        await st.core.rewrite("garden", f"tomatoes, week {i}")
    ents = [Entity(name="Sam", type="person"), Entity(name="Helix", type="tool"), Entity(name="Vim", type="tool")]
    rels = [
        Relation(id="r1", subject="Sam", type="prefers_editor", object="Helix", valid_from=T0),
        Relation(id="r2", subject="Sam", type="prefers_editor", object="Vim", valid_from=T0 - timedelta(days=9)),
        Relation(id="r4", subject="Sam", type="uses", object="Vim", valid_from=T0,
                 valid_to=T0 - timedelta(days=1)),
    ]
    await st.graph.import_records([GraphRecord(entity=e) for e in ents] + [GraphRecord(relation=r) for r in rels])
    return a.id, dup.id, other.id


async def test_maintenance_task_on_a_real_memory_node(bus: Bus, memory_node: LocalMemory,
                                                      make_worker: MakeWorker) -> None:
    canonical, dup, other = await _seed(memory_node)

    async def memory() -> MemoryStack:
        return await client_stack(bus, memory_config())

    registry = TaskRegistry()
    register(registry, memory, memory_config())
    await make_worker(registry)
    q = queue_for(bus)
    task = await wait_task(q, (await q.enqueue(TaskSpec(kind=KIND, params={"history_keep": 10}))).task.id, done, 60)
    assert task.state == "succeeded", task.error
    r = task.result
    assert r["optimized"] is True and r["passages_scanned"] == 3
    assert [tuple(x) for x in r["duplicates_linked"]] == [(dup, canonical)]
    stored: Passage = await memory_node.stack.archival.get(dup)
    assert stored.near_duplicate_of == canonical and stored.text.startswith("my favourite editor")  # kept, linked
    assert (await memory_node.stack.archival.get(other)).near_duplicate_of is None
    hits = await memory_node.stack.archival.search("favourite editor Helix", limit=5)
    assert [h.passage.id for h in hits].count(dup) == 0  # the group shows once
    assert r["history_dropped"] == {"garden": 21}  # create + 30 rewrites, 10 kept; the others have fewer
    history = await memory_node.stack.core.history("garden")
    assert len(history) == 10 and history[-1].value == "tomatoes, week 29"
    assert (await memory_node.stack.core.get_block("garden")).value == "tomatoes, week 29"
    problems = r["graph_problems"]
    assert any("r4" in p and "ends before it starts" in p for p in problems), problems
    assert any("2 current prefers_editor facts" in p for p in problems), problems
    assert "1 near-duplicate passage(s) linked of 3" in r["summary"]
    # a second run finds nothing new to link or expire
    again = await wait_task(q, (await q.enqueue(TaskSpec(kind=KIND, params={"history_keep": 10}))).task.id,
                            done, 60)
    assert again.result["duplicates_linked"] == [] and again.result["history_dropped"] == {}


async def test_bad_params_fail_permanently(bus: Bus, memory_node: LocalMemory, make_worker: MakeWorker) -> None:
    async def memory() -> MemoryStack:
        return await client_stack(bus, memory_config())

    registry = TaskRegistry()
    register(registry, memory, memory_config())
    await make_worker(registry)
    q = queue_for(bus)
    t = await wait_task(q, (await q.enqueue(TaskSpec(kind=KIND, params={"history_keep": "lots"}))).task.id,
                        done, 30)
    assert t.state == "failed" and "params.history_keep" in (t.error or "")


def test_graph_check_reports_a_fact_without_its_entity() -> None:
    """The stores refuse such a fact on write; an export restored by hand or an older store can still
    hold one, and the check names it."""
    recs = [GraphRecord(entity=Entity(name="Sam")),
            GraphRecord(relation=Relation(id="r9", subject="Sam", type="works_on", object="Ghost", valid_from=T0))]
    assert graph_problems(recs, []) == ["fact r9 (Sam works_on Ghost): no entity 'Ghost'"]
