"""Operations from requests through the real policy gate: freeing disk (the healing free_disk routine on
real files), an operation asked for later (queued as an intake.ops task), a model that cannot be found,
and a node that is not there."""

from __future__ import annotations

import os
from pathlib import Path

from hydra_os.bus.client import Bus
from hydra_os.policy.audit import read_events
from tests.intake.test_service import MakeSvc, ask, gate_node, make_svc  # noqa: F401 (fixtures)


async def test_free_disk_empties_the_configured_caches_through_the_gate(make_svc: MakeSvc, tmp_path: Path,  # noqa: F811
                                                                        bus: Bus) -> None:
    cache = tmp_path / "cache"
    (cache / "sub").mkdir(parents=True)
    keep = tmp_path / "keep.bin"
    keep.write_bytes(b"k" * 1000)
    for i in range(3):
        (cache / "sub" / f"f{i}.bin").write_bytes(b"x" * 200_000)
    os.symlink(keep, cache / "link")  # not followed, not removed
    svc = make_svc()
    svc.settings.healing.cache_dirs = [cache]
    r = await ask(svc, "free up disk space please")
    assert r.status == "done", r
    assert r.reply.startswith("Done: free disk on n1 by emptying its known caches just now (INFORM_AFTER")
    assert "freed 0.6 MB" in r.reply
    assert not list((cache / "sub").iterdir()) and keep.exists() and (cache / "link").is_symlink()
    types = [e.event.type for e in await read_events(bus, node="n1") if e.event]
    assert "policy.outcome" in types


async def test_free_disk_without_caches_or_on_a_missing_node_does_nothing(make_svc: MakeSvc) -> None:  # noqa: F811
    svc = make_svc()
    r = await ask(svc, "clean the disk cache")
    assert r.status == "unsupported" and "no cache directory is configured" in r.reply
    svc.nodes = lambda: {"n1": ["worker"], "storage": ["worker"]}
    r = await ask(svc, "free up disk space on the storage node")
    assert r.status == "failed" and r.reply.startswith("Node storage did not take the request")


async def test_unload_a_model_nobody_runs_asks_back(make_svc: MakeSvc) -> None:  # noqa: F811
    svc = make_svc()
    svc.nodes = lambda: {"n1": ["gpu"]}
    r = await ask(svc, "unload the big model")
    assert r.status == "clarify" and r.question and "No model is running" in r.question


async def test_an_operation_for_later_is_queued_as_a_task(make_svc: MakeSvc) -> None:  # noqa: F811
    svc = make_svc()
    r = await ask(svc, "restart ollama tonight")
    assert r.status == "queued" and r.task_id, r
    task = await svc.queue.get(r.task_id)
    assert task.kind == "intake.ops" and task.window == "overnight" and task.priority == 2
    assert task.params == {"request": "restart ollama", "node": "n1"}
    assert "the policy decides when it runs (today: AUTONOMOUS)" in r.reply
    r = await ask(svc, "restart ollama every night")
    assert r.status == "unsupported" and "nothing was done" in r.reply
