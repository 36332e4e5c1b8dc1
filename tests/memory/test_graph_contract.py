"""One contract suite for every knowledge-graph backend.

- ``ladybug``: the embedded default, in a temp dir.
- ``neo4j``: runs only when ``HYDRA_TEST_NEO4J_URL`` is set (plus ``HYDRA_TEST_NEO4J_USER`` /
  ``HYDRA_TEST_NEO4J_PASSWORD``); no Neo4j server can run on this machine, so it is skipped here.
  Each Neo4j test starts by deleting every ``Entity`` node of the target database.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memory.errors import MemoryInputError, MemoryNotFoundError
from memory.graph import CypherGraphStore, GraphConfig, open_graph
from memory.protocols import Entity, GraphRecord, GraphStore, RelationIn, iter_pages

NEO4J_URL = os.environ.get("HYDRA_TEST_NEO4J_URL")
JAN, MAR, APR, JUN = (datetime(2024, m, 1, tzinfo=UTC) for m in (1, 3, 4, 6))


def cfg_for(kind: str, tmp: Path) -> GraphConfig:
    if kind == "ladybug":
        return GraphConfig(backend="ladybug", path=tmp / "graph.lbug", buffer_pool_mb=64)
    pw = tmp / "neo4j-password"
    pw.write_text(os.environ.get("HYDRA_TEST_NEO4J_PASSWORD", ""))
    return GraphConfig(
        backend="neo4j", url=NEO4J_URL, user=os.environ.get("HYDRA_TEST_NEO4J_USER", "neo4j"), password_file=pw
    )


@pytest.fixture(
    params=[
        "ladybug",
        pytest.param(
            "neo4j",
            marks=pytest.mark.skipif(not NEO4J_URL, reason="HYDRA_TEST_NEO4J_URL is not set (no Neo4j server here)"),
        ),
    ]
)
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "neo4j":
        import neo4j

        cfg = cfg_for("neo4j", tmp_path)
        assert cfg.url is not None and cfg.password_file is not None
        with neo4j.GraphDatabase.driver(cfg.url, auth=(cfg.user, cfg.password_file.read_text())) as d:
            d.execute_query("MATCH (e:Entity) DETACH DELETE e")
    return str(request.param)


@pytest.fixture
async def graph(kind: str, tmp_path: Path) -> AsyncIterator[CypherGraphStore]:
    g = await open_graph(cfg_for(kind, tmp_path), tmp_path)
    yield g
    await g.close()


async def seed(g: GraphStore) -> None:
    await g.upsert_entity(Entity(name="Alex Doe", type="person", aliases=["Alex", "the owner"]))
    await g.upsert_relation(
        RelationIn(subject="the owner", type="prefers_editor", object="Vim", object_type="tool", valid_from=JAN)
    )
    await g.upsert_relation(RelationIn(subject="Alex", type="works_on", object="Hydra OS", valid_from=JAN))
    await g.upsert_relation(RelationIn(subject="Hydra OS", type="uses", object="NATS", valid_from=JAN))
    await g.upsert_relation(RelationIn(subject="NATS", type="written_in", object="Go", valid_from=JAN))
    await g.upsert_relation(RelationIn(subject="alex doe", type="prefers_editor", object="Helix", valid_from=APR))


async def test_protocol_and_alias_resolution(graph: CypherGraphStore) -> None:
    assert isinstance(graph, GraphStore)
    await seed(graph)
    for name in ("Alex Doe", "alex", "THE OWNER", " the owner "):
        e = await graph.resolve(name)
        assert e is not None and e.name == "Alex Doe" and e.type == "person"
    assert await graph.resolve("Bob") is None
    merged = await graph.upsert_entity(Entity(name="alex", aliases=["AD"], properties={"tz": "Europe/Berlin"}))
    assert merged.name == "Alex Doe" and merged.type == "person"  # "thing" does not overwrite a known type
    assert set(merged.aliases) == {"Alex", "the owner", "AD"} and merged.properties == {"tz": "Europe/Berlin"}
    assert (await graph.resolve("ad")) == merged
    counts = await graph.counts()
    assert counts == {"entities": 6, "relations": 5}  # one node per person however it was named
    vim = await graph.resolve("vim")
    assert vim is not None and vim.type == "tool"
    await graph.upsert_entity(Entity(name="Bob", aliases=["Bobby"]))
    with pytest.raises(MemoryInputError, match="Bobby"):
        await graph.upsert_entity(Entity(name="Alex", aliases=["Bobby"]))


async def test_single_valued_closes_the_old_fact_and_history_answers(graph: CypherGraphStore) -> None:
    await seed(graph)
    facts = await graph.facts_about("alex")
    editors = [f for f in facts if f.type == "prefers_editor"]
    assert [(f.object, f.valid_from, f.valid_to) for f in editors] == [("Vim", JAN, APR), ("Helix", APR, None)]
    assert [f.valid_from for f in facts] == sorted(f.valid_from for f in facts)
    in_march = await graph.facts_about("the owner", at=MAR)
    assert {(f.type, f.object) for f in in_march} == {("prefers_editor", "Vim"), ("works_on", "Hydra OS")}
    in_june = await graph.facts_about("Alex", at=JUN)
    assert {(f.type, f.object) for f in in_june} == {("prefers_editor", "Helix"), ("works_on", "Hydra OS")}
    # facts where the entity is the object count too
    assert {f.subject for f in await graph.facts_about("NATS")} == {"Hydra OS", "NATS"}


async def test_reassert_changes_nothing_and_multi_valued_accumulates(graph: CypherGraphStore) -> None:
    await seed(graph)
    before = await graph.counts()
    again = await graph.upsert_relation(
        RelationIn(subject="Alex", type="prefers_editor", object="helix", valid_from=JUN)
    )
    assert again.object == "Helix" and again.valid_from == APR and again.valid_to is None
    assert await graph.counts() == before
    await graph.upsert_relation(RelationIn(subject="Alex", type="works_on", object="Visual Novel", valid_from=MAR))
    current = await graph.facts_about("Alex", at=JUN)
    assert {f.object for f in current if f.type == "works_on"} == {"Hydra OS", "Visual Novel"}
    # explicit single_valued on an unconfigured type, and an explicit multi on a configured one
    await graph.upsert_relation(
        RelationIn(subject="Alex", type="mood", object="calm", valid_from=JAN, single_valued=True)
    )
    await graph.upsert_relation(
        RelationIn(subject="Alex", type="mood", object="busy", valid_from=MAR, single_valued=True)
    )
    moods = [f for f in await graph.facts_about("Alex") if f.type == "mood"]
    assert [(f.object, f.valid_to) for f in moods] == [("calm", MAR), ("busy", None)]


async def test_older_value_is_stored_as_history(graph: CypherGraphStore) -> None:
    await seed(graph)
    old = await graph.upsert_relation(
        RelationIn(subject="Alex", type="prefers_editor", object="Nano", valid_from=JAN - timedelta(days=365))
    )
    assert old.valid_to is not None
    at = JAN - timedelta(days=100)
    assert [f.object for f in await graph.facts_about("Alex", at=at) if f.type == "prefers_editor"] == ["Nano"]
    assert [f.object for f in await graph.facts_about("Alex", at=JUN) if f.type == "prefers_editor"] == ["Helix"]


async def test_neighbours_to_depth_three_over_current_facts(graph: CypherGraphStore) -> None:
    await seed(graph)
    one = await graph.neighbours("Alex", depth=1)
    assert [(n.entity.name, n.distance, n.via) for n in one] == [
        ("Helix", 1, ["prefers_editor"]),
        ("Hydra OS", 1, ["works_on"]),
    ]  # Vim is no longer a current fact
    two = await graph.neighbours("the owner", depth=2)
    assert ("NATS", 2, ["works_on", "uses"]) in [(n.entity.name, n.distance, n.via) for n in two]
    three = await graph.neighbours("alex", depth=3)
    assert [(n.entity.name, n.distance) for n in three] == [("Helix", 1), ("Hydra OS", 1), ("NATS", 2), ("Go", 3)]
    assert [n.entity.name for n in await graph.neighbours("Go", depth=1)] == ["NATS"]  # both directions
    with pytest.raises(MemoryInputError, match="depth"):
        await graph.neighbours("Alex", depth=4)


async def test_facts_valid_at(graph: CypherGraphStore) -> None:
    await seed(graph)
    march = await graph.facts_valid_at(MAR)
    assert {(f.subject, f.type, f.object) for f in march} == {
        ("Alex Doe", "prefers_editor", "Vim"),
        ("Alex Doe", "works_on", "Hydra OS"),
        ("Hydra OS", "uses", "NATS"),
        ("NATS", "written_in", "Go"),
    }
    assert await graph.facts_valid_at(JAN - timedelta(seconds=1)) == []
    at_switch = {f.object for f in await graph.facts_valid_at(APR) if f.type == "prefers_editor"}
    assert at_switch == {"Helix"}  # valid_to is exclusive
    with pytest.raises(MemoryInputError, match="timezone"):
        await graph.facts_valid_at(datetime(2024, 1, 1))


async def test_unknown_entity_and_bad_relation_input(graph: CypherGraphStore) -> None:
    with pytest.raises(MemoryNotFoundError, match="Nobody"):
        await graph.facts_about("Nobody")
    with pytest.raises(MemoryNotFoundError):
        await graph.neighbours("Nobody")
    with pytest.raises(ValueError, match="type"):
        RelationIn(subject="a", type="Prefers Editor", object="b")
    with pytest.raises(ValueError, match="confidence"):
        RelationIn(subject="a", type="x", object="b", confidence=2.0)


async def test_relation_fields_round_trip(graph: CypherGraphStore) -> None:
    r = await graph.upsert_relation(
        RelationIn(
            subject="Alex",
            type="uses_gpu",
            object="RTX 3090",
            properties={"count": 2, "vram_gb": 24},
            valid_from=MAR,
            valid_to=JUN,
            source="passage:abc",
            confidence=0.75,
        )
    )
    (stored,) = await graph.facts_about("rtx 3090")
    assert stored == r
    assert stored.properties == {"count": 2, "vram_gb": 24} and stored.source == "passage:abc"
    assert stored.confidence == 0.75 and stored.valid_to == JUN


async def test_batch_upsert_in_one_transaction(graph: CypherGraphStore) -> None:
    rels = [
        RelationIn(subject=f"host{i % 20}", type="runs", object=f"service{i}", valid_from=JAN + timedelta(hours=i))
        for i in range(200)
    ] + [
        RelationIn(subject="host0", type="status", object=s, valid_from=JAN + timedelta(days=d))
        for d, s in enumerate(["up", "degraded", "up"])
    ]
    out = await graph.upsert_relations(rels)
    assert len(out) == 203
    assert await graph.counts() == {"entities": 20 + 200 + 2, "relations": 203}
    statuses = [f for f in await graph.facts_about("host0") if f.type == "status"]
    assert [(f.object, f.valid_to is None) for f in statuses] == [("up", False), ("degraded", False), ("up", True)]
    assert len(await graph.neighbours("host3", depth=1)) == 10


async def test_persists_and_export_import_round_trip(kind: str, tmp_path: Path) -> None:
    g = await open_graph(cfg_for(kind, tmp_path), tmp_path)
    await seed(g)
    records: list[GraphRecord] = [r async for r in iter_pages(g.export_page, page_size=2)]
    await g.close()
    await g.close()  # idempotent
    ents = [r.entity for r in records if r.entity]
    rels = [r.relation for r in records if r.relation]
    assert len(ents) == 6 and len(rels) == 5
    assert records.index(GraphRecord(relation=rels[0])) > records.index(GraphRecord(entity=ents[-1]))
    g2 = await open_graph(cfg_for(kind, tmp_path), tmp_path)  # reopen: still there, aliases too
    try:
        e = await g2.resolve("the owner")
        assert e is not None and e.name == "Alex Doe"
        assert len(await g2.facts_about("Alex")) == 3
    finally:
        await g2.close()
    if kind == "neo4j":
        return  # one Neo4j database: the restore target below would be the same one
    target = await open_graph(cfg_for(kind, tmp_path / "restore"), tmp_path / "restore")
    try:
        await target.import_records(records)
        again = [r async for r in iter_pages(target.export_page, page_size=100)]
        assert again == records
        assert [f.object for f in await target.facts_about("the owner", at=MAR) if f.type == "prefers_editor"] == [
            "Vim"
        ]
    finally:
        await target.close()


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="url"):
        GraphConfig(backend="neo4j")
    with pytest.raises(ValueError, match="extra"):
        GraphConfig(pth="x")  # type: ignore[call-arg]
