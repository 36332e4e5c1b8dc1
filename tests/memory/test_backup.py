"""Export as versioned JSONL, import into an empty state dir: the restored stores answer the same."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from memory.backup import VERSION, export_memory, import_memory, validate_export
from memory.errors import BackupFormatError
from memory.extract import MemoryWriter
from memory.protocols import Entity, LearningIn, MemoryStack, PassageIn, iter_pages
from memory.wiring import LocalMemory, open_local
from tests.memory.conftest import hashing_config

T1 = datetime(2025, 1, 10, tzinfo=UTC)
T2 = datetime(2025, 4, 2, tzinfo=UTC)


async def _fill(stack: MemoryStack) -> None:
    w = MemoryWriter(stack, owner="Sam")
    await stack.core.append("owner", "Name: Sam")
    await stack.core.replace("owner", "Sam", "Sam Rivera")
    await stack.graph.upsert_entity(Entity(name="Sam", type="person", aliases=["owner", "S."]))
    await w.record_preference("editor", "vim", valid_from=T1)
    await w.record_preference("editor", "helix", valid_from=T2)
    await w.record_fact("Sam", "works_on", "Starfall", valid_from=T1)
    await stack.archival.add([PassageIn(text=f"session {i}: talked about topic {i} and chapter {i % 5}",
                                        tags=[f"t{i % 3}"], session=f"s{i % 4}") for i in range(30)])
    for i in range(3):
        await stack.learnings.add(LearningIn(context=f"context {i}", learning=f"learning {i}", apply="apply it"))


async def _snapshot(stack: MemoryStack) -> dict[str, object]:
    blocks = await stack.core.list_blocks()
    return {
        "blocks": [b.model_dump() for b in blocks],
        "history": {b.label: [h.model_dump() for h in await stack.core.history(b.label)] for b in blocks},
        "passages": sorted([p.model_dump() async for p in iter_pages(stack.archival.export_page)],
                           key=lambda p: str(p["id"])),
        "graph": [r.model_dump() async for r in iter_pages(stack.graph.export_page)],
        "learnings": [e.model_dump() async for e in iter_pages(stack.learnings.export_page)],
        # every passage scores the same (the order of equal scores is the engine's, so compare as sets)
        "vector": sorted((round(h.score, 5), h.passage.id)
                         for h in await stack.archival.search("chapter 3 topic", limit=40, mode="vector")),
        "bm25": sorted((round(h.score, 5), h.passage.id)
                       for h in await stack.archival.search("chapter 3 topic", limit=40, mode="bm25")),
        "top": (await stack.archival.search("chapter 3 topic", limit=1))[0].passage.text,
        "facts_march": [f.object for f in await stack.graph.facts_about("owner", at=datetime(2025, 3, 1, tzinfo=UTC))],
        "neighbours": [n.entity.name for n in await stack.graph.neighbours("S.", depth=2)],
        "learn_search": [e.id for e in await stack.learnings.search("learning 2")],
    }


async def test_export_then_import_into_an_empty_state_dir(local_mem: LocalMemory, tmp_path: Path) -> None:
    await _fill(local_mem.stack)
    dump = tmp_path / "memory.jsonl"
    counts = await export_memory(local_mem.stack, dump)
    assert counts == {"block": 4, "passage": 33, "entity": 4, "relation": 3, "learning": 3}
    header = json.loads(dump.read_text().splitlines()[0])
    assert header["format"] == "hydra-memory" and header["version"] == VERSION
    assert header["embedding_model"] == "hashing-bow-v1-384"
    first_passage = next(json.loads(ln) for ln in dump.read_text().splitlines() if '"passage"' in ln[:20])
    assert first_passage["passage"]["embedding_model"] == "hashing-bow-v1-384"
    assert len(first_passage["passage"]["vector"]) == 384

    fresh = await open_local(hashing_config(), tmp_path / "fresh", create_defaults=False)
    try:
        assert await import_memory(fresh.stack, dump) == counts
        assert await _snapshot(fresh.stack) == await _snapshot(local_mem.stack)
        # the restored stores keep working: a new write closes the right fact, search sees new text
        await MemoryWriter(fresh.stack, owner="Sam").record_preference("editor", "zed")
        assert [f.object for f in await fresh.stack.graph.facts_about("Sam") if f.valid_to is None
                and f.type == "prefers_editor"] == ["zed"]
        assert (await fresh.stack.learnings.add(LearningIn(context="c", learning="l"))).id == "L-0004"
        with pytest.raises(BackupFormatError, match="not empty"):
            await import_memory(fresh.stack, dump)
    finally:
        await fresh.close()


async def test_import_into_another_embedding_model_re_embeds(local_mem: LocalMemory, tmp_path: Path) -> None:
    await local_mem.stack.archival.add([PassageIn(text="the NAS lives at 10.0.0.5"), PassageIn(text="garden")])
    dump = tmp_path / "m.jsonl"
    await export_memory(local_mem.stack, dump)
    cfg = hashing_config()
    cfg.embed.dim = 128
    other = await open_local(cfg, tmp_path / "other", create_defaults=False)
    try:
        await import_memory(other.stack, dump)
        assert other.stack.archival.embedding_model == "hashing-bow-v1-128"
        hits = await other.stack.archival.search("where is the NAS", limit=1)
        assert hits[0].passage.text == "the NAS lives at 10.0.0.5"
        assert hits[0].passage.embedding_model == "hashing-bow-v1-128"
    finally:
        await other.close()


async def test_bad_files_are_refused_before_anything_is_written(local_mem: LocalMemory, tmp_path: Path) -> None:
    await _fill(local_mem.stack)
    dump = tmp_path / "m.jsonl"
    await export_memory(local_mem.stack, dump)
    lines = dump.read_text().splitlines(keepends=True)
    cases = {
        "cut.jsonl": ("".join(lines[:-3]), "no footer"),
        "version.jsonl": (lines[0].replace(f'"version":{VERSION}', '"version":99') + "".join(lines[1:]),
                          "format version 99"),
        "garbled.jsonl": ("".join(lines[:5]) + "{oops\n" + "".join(lines[5:]), "line 6: not JSON"),
        "badfield.jsonl": ("".join(lines[:1]) + lines[1].replace('"limit":', '"limit":-') + "".join(lines[2:]),
                           "line 2: block field limit"),
        "counts.jsonl": ("".join(lines[:2]) + "".join(lines[3:]), "footer counts"),
        "other.jsonl": ('{"kind": "something"}\n', "not a hydra memory export"),
    }
    fresh = await open_local(hashing_config(), tmp_path / "fresh", create_defaults=False)
    try:
        for name, (content, message) in cases.items():
            bad = tmp_path / name
            bad.write_text(content)
            with pytest.raises(BackupFormatError, match=message):
                validate_export(bad)
            with pytest.raises(BackupFormatError, match=message):
                await import_memory(fresh.stack, bad)
        assert await fresh.stack.archival.count() == 0 and await fresh.stack.core.list_blocks() == []
    finally:
        await fresh.close()
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob(".*.partial")))
