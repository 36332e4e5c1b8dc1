"""The typed research step results read the checkpoints the steps wrote as plain dicts before, and write
the same shapes back (a task started by an older worker resumes on a newer one, and the other way)."""
from __future__ import annotations

from typing import Any

from pipelines.research.pipeline import STEPS, finish
from pipelines.research.results import Done

HIT = {"url": "https://example.org/a", "title": "A", "snippet": "s", "source": "searxng", "query": "q",
       "published": None, "text": None, "score": 1.5}
DOC = {"hit": HIT, "text": "body", "fetched": True, "error": None}
# what each step checkpointed before its results were typed (the dict literals of the old build())
OLD: dict[str, Any] = {
    "plan": {"topic": "t", "queries": ["t", "t news"], "planned_by": "rules"},
    "gather": {"hits": [HIT], "per_source": {"searxng": 1}, "errors": []},
    "fetch": {"documents": [DOC, {**DOC, "fetched": False, "error": "HTTP 404"}], "fetched": 1,
              "failed": [{"url": HIT["url"], "error": "HTTP 404"}]},
    "rank": {"sources": [DOC]},
    "synthesise": {"status": "pending-model", "summary": "S", "markdown": "# R", "entities": [],
                   "reason": "no model is available"},
    "store": {"report_path": "/r/t.md", "node": "n1", "passages": 2, "new_passages": 2, "entities": 1},
}


def test_old_checkpoints_read_and_write_back_the_same_shape() -> None:
    done = Done(OLD)
    typed = {"plan": done.plan, "gather": done.gathered, "fetch": done.fetched, "rank": done.ranked,
             "synthesise": done.synthesis, "store": done.stored}
    assert [name for name, _ in STEPS] == list(typed)  # the checkpoint keys did not change
    for name, model in typed.items():
        dumped = model.model_dump(mode="json")
        assert {k: dumped[k] for k in OLD[name]} == OLD[name], name
    assert done.plan.topic == "t" and done.ranked.sources[0].hit.url == HIT["url"]


def test_a_done_synthesis_checkpoint_without_reason_reads() -> None:
    old = {"status": "done", "summary": "S [1]", "markdown": "# R", "entities": [{"name": "NATS", "type": "tool"}],
           "cited": [1], "removed_citations": 0}
    s = Done({"synthesise": old}).synthesis
    assert s.reason is None and s.entities[0].name == "NATS" and s.cited == [1]


def test_the_task_result_from_old_checkpoints() -> None:
    out = finish(OLD)
    assert out == {
        "topic": "t", "summary": "S", "synthesis": "pending-model", "reason": "no model is available",
        "queries": ["t", "t news"], "planned_by": "rules", "gathered": 1, "per_source": {"searxng": 1},
        "source_errors": [], "fetched": 1,
        "sources": [{"n": 1, "title": "A", "url": HIT["url"], "source": "searxng"}],
        "report_path": "/r/t.md", "report_node": "n1",
        "memory": {"passages": 2, "new_passages": 2, "entities": 1},
    }
