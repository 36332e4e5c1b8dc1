"""Keep what a research run produced: the report file, archival passages, graph entities.

Every write is idempotent per task, so a step interrupted and run again changes nothing twice: the
file is replaced atomically, archival ``add`` reports exact repeats as duplicates, and graph upserts
merge into what is there.
"""

from __future__ import annotations

import re
from pathlib import Path

from memory.core.atomic import atomic_write
from memory.extract import MemoryWriter
from memory.protocols import Entity, MemoryStack, RelationIn
from pipelines.research.model import Document
from pipelines.research.results import Synthesis

CHUNK = 1500


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "topic"


def write_atomic(path: Path, text: str) -> None:
    """Blocking: write ``text`` to ``path`` through a temp file and rename (a crash leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"))


def chunks(markdown: str, size: int = CHUNK) -> list[str]:
    """Paragraph-aligned pieces of at most ``size`` characters (a longer paragraph is cut)."""
    out: list[str] = []
    cur = ""
    for para in re.split(r"\n\s*\n", markdown.strip()):
        para = para.strip()
        while len(para) > size:
            out.append(para[:size])
            para = para[size:]
        if cur and len(cur) + len(para) + 2 > size:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n\n{para}" if cur else para
    if cur:
        out.append(cur)
    return out


async def store_in_memory(stack: MemoryStack, task_id: str, topic: str, synth: Synthesis,
                          sources: list[Document]) -> dict[str, int]:
    """Archival passages (the report in chunks, one per source) and graph entities; how many of each."""
    writer = MemoryWriter(stack)
    texts = [f"Research report on {topic} (task {task_id}):\n\n{c}" for c in chunks(synth.markdown)]
    for i, s in enumerate(sources, 1):
        texts.append(f"Source [{i}] for research on {topic}: {s.hit.title}\n{s.hit.url}\n\n"
                     f"{' '.join(s.text[:1200].split())}")
    added = await writer.record_pipeline_result("research", task_id, texts, tags=["research", slug(topic)])
    origin = f"pipeline:research:{task_id}"
    await stack.graph.upsert_entity(Entity(name=topic, type="topic", properties={"research_task": task_id}))
    named = 0
    for e in synth.entities:
        if e.name.lower() == topic.lower():
            continue
        await stack.graph.upsert_entity(Entity(name=e.name, type=e.type.lower() or "thing"))
        await stack.graph.upsert_relation(RelationIn(subject=e.name, type="mentioned_in_research", object=topic,
                                                     source=origin, confidence=0.8))
        named += 1
    return {"passages": len(added), "new_passages": sum(1 for a in added if a.status == "added"),
            "entities": named + 1}
