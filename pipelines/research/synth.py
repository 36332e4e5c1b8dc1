"""Write the report: through the router with numbered citations, or, without a model, the ranked sources
with a line saying the synthesis is pending a model.

The model answers JSON (summary, report in Markdown citing ``[n]``, entities it names). Citations are
checked: numbers that name no source are removed and counted; a report citing nothing is not accepted.
The numbered source list under the report is always built here, never by the model.
"""

from __future__ import annotations

import re
from datetime import datetime

from hydra_os.chat.client import ChatModel, ask_json
from hydra_os.chat.errors import ChatError, ModelReplyError
from pipelines.research.model import Document
from pipelines.research.results import NamedEntity, Synthesis

EXCERPT = 3000
_CITE = re.compile(r"\[(\d{1,3})\]")

SYNTH_SCHEMA = {
    "name": "research_report",
    "schema": {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "report": {"type": "string"},
            "entities": {
                "type": "array",
                "items": {"type": "object",
                          "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
                          "required": ["name", "type"], "additionalProperties": False},
            },
        },
        "required": ["summary", "report", "entities"],
        "additionalProperties": False,
    },
}

SYSTEM = (
    "You are a careful research assistant. Using ONLY the numbered sources given, write a report on the topic "
    "in Markdown (short sections, no title line). Cite every claim with the source number in square brackets, "
    "e.g. [2]; never cite a number that is not listed. Also give a 2-3 sentence summary (citations allowed) and "
    "the named entities the report is about (projects, tools, organisations, people, models) with a one-word "
    "type each. Reply with JSON matching the schema."
)


def source_block(docs: list[Document]) -> str:
    parts = []
    for i, d in enumerate(docs, 1):
        h = d.hit
        parts.append(f"[{i}] {h.title}\nURL: {h.url}\nFrom: {h.source}{f', {h.published}' if h.published else ''}\n"
                     f"{d.text[:EXCERPT]}")
    return "\n\n".join(parts)


def sources_markdown(docs: list[Document]) -> str:
    lines = []
    for i, d in enumerate(docs, 1):
        h = d.hit
        date = f", {h.published[:10]}" if h.published else ""
        lines.append(f"{i}. [{h.title}]({h.url}) ({h.source}{date})")
    return "\n".join(lines)


def check_citations(text: str, n: int) -> tuple[str, int, set[int]]:
    """(text with out-of-range citations removed, how many were removed, the valid numbers cited)."""
    bad = 0
    cited: set[int] = set()

    def fix(m: re.Match[str]) -> str:
        nonlocal bad
        k = int(m.group(1))
        if 1 <= k <= n:
            cited.add(k)
            return m.group(0)
        bad += 1
        return ""

    return _CITE.sub(fix, text), bad, cited


async def synthesise(model: ChatModel | None, topic: str, docs: list[Document], now: datetime) -> Synthesis:
    head = f"# Research: {topic}\n\n_{now:%Y-%m-%d %H:%M %Z}, {len(docs)} sources_\n"
    listing = f"\n## Sources\n\n{sources_markdown(docs)}\n" if docs else ""
    if not docs:
        summary = f"No source had anything on {topic}; nothing to synthesise."
        return Synthesis(status="no-sources", summary=summary, markdown=f"{head}\n{summary}\n", reason="no sources")
    reason = "no model is available"
    if model is not None and await model.available():
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"Topic: {topic}\n\nSources:\n\n{source_block(docs)}"}]
        try:
            reply = await ask_json(model, messages, SYNTH_SCHEMA, max_tokens=2500)
            report, bad, cited = check_citations(str(reply.get("report", "")).strip(), len(docs))
            summary, bad2, _ = check_citations(" ".join(str(reply.get("summary", "")).split()), len(docs))
            if not report or not cited:
                raise ModelReplyError("the model's report cites none of the sources")
            entities = [NamedEntity(name=str(e["name"]).strip()[:200], type=str(e.get("type") or "thing").strip()[:40])
                        for e in reply.get("entities", []) if isinstance(e, dict) and str(e.get("name", "")).strip()]
            md = f"{head}\n## Summary\n\n{summary}\n\n## Report\n\n{report}\n{listing}"
            return Synthesis(status="done", summary=summary, markdown=md, entities=entities[:50],
                             cited=sorted(cited), removed_citations=bad + bad2)
        except ChatError as e:
            reason = f"the model failed: {e}"
    summary = (f"Gathered and ranked {len(docs)} sources on {topic}; the synthesis is pending a model "
               f"({reason}).")
    excerpts = "\n\n".join(f"**[{i}] {d.hit.title}**: {' '.join(d.text[:500].split())}"
                           for i, d in enumerate(docs, 1))
    md = f"{head}\n## Summary\n\n{summary}\n\n## Excerpts\n\n{excerpts}\n{listing}"
    return Synthesis(status="pending-model", summary=summary, markdown=md, reason=reason)
