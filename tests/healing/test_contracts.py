"""Contract tests of every check and every fixup module (Home Assistant Supervisor's per-module
``test_base``): what each declares is consistent, so renaming a check or an issue type fails here
instead of silently disabling the fixups that repaired it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import (
    DETAILS,
    BackupDetails,
    BusDetails,
    DiskDetails,
    EngineDetails,
    HttpDetails,
    ModelDetails,
    NodeDetails,
    StoreDetails,
)
from hydra_os.healing.errors import HealingError
from hydra_os.healing.gpu_health import GpuHealth
from hydra_os.healing.incidents import IncidentStore
from hydra_os.healing.model import Check, Fixup, Issue
from hydra_os.healing.registry import discover_checks, discover_fixups
from hydra_os.healing.supervisor import ChildProcess, ChildState, ProcessSupervisor
from hydra_os.healing.systemctl import UnitState
from hydra_os.healing.target import Target
from hydra_os.sections.healing import ChildSpec, HealingConfig

CHECKS = discover_checks()
FIXUPS = discover_fixups()
REPORTED = {t for c in CHECKS for t in c.issues}


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.name)
def test_check_declares_the_issue_types_it_reports(check: Check) -> None:
    assert check.issues and all(isinstance(t, IssueType) for t in check.issues)
    assert len(set(check.issues)) == len(check.issues)


@pytest.mark.parametrize("fixup", FIXUPS, ids=lambda f: f.name)
def test_fixup_repairs_issue_types_a_check_reports(fixup: Fixup) -> None:
    assert fixup.issues and all(isinstance(t, IssueType) for t in fixup.issues)
    assert set(fixup.issues) <= REPORTED, f"{fixup.name} repairs issue types no check reports"
    assert fixup.kind in fixup.kinds


def test_every_issue_type_is_reported_and_has_a_details_model() -> None:
    assert REPORTED == set(IssueType)
    assert set(DETAILS) == set(IssueType)


def test_an_issue_refuses_details_of_another_type() -> None:
    with pytest.raises(ValueError, match="details: a http_down issue carries HttpDetails, not NodeDetails"):
        Issue(type=IssueType.HTTP_DOWN, check="http_endpoint", target=Target(TargetKind.HTTP, "x"), summary="s",
              details=NodeDetails(node="n"))
    ok = Issue(type=IssueType.HTTP_DOWN, check="http_endpoint", target=Target(TargetKind.HTTP, "x"), summary="s",
               details=HttpDetails(url="http://x/", why="HTTP 500"))
    assert ok.detail(HttpDetails).why == "HTTP 500"
    with pytest.raises(HealingError, match="carries HttpDetails, not NodeDetails"):
        ok.detail(NodeDetails)


@pytest.mark.parametrize("text", ["unit:ollama.service", "bus", "disk:/var/lib/hydra", "file:/a:b", "gpu:0"])
def test_target_wire_form_round_trips(text: str) -> None:
    assert str(Target.parse(text)) == text


@pytest.mark.parametrize("text", ["", "ollama.service", "unit:", "bus:x", "bogus:y"])
def test_a_malformed_target_names_what_was_expected(text: str) -> None:
    with pytest.raises(HealingError, match="target"):
        Target.parse(text)


def test_incidents_written_with_string_targets_still_match(tmp_path: Path) -> None:
    """incidents.json from before Target: the root is the same string, so the open incident is found."""
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps([{"id": "abc", "root": "http:webui", "check": "http_endpoint", "summary": "down",
                                 "first_seen": 1.0, "last_seen": 2.0}]))
    store = IncidentStore(path)
    issue = Issue(type=IssueType.HTTP_DOWN, check="http_endpoint", target=Target.parse("http:webui"),
                  summary="still down", details=HttpDetails(url="http://webui/", why="HTTP 502"))
    inc, fresh = store.observe(issue, [], 3.0)
    assert (inc.id, fresh, inc.occurrences, inc.summary) == ("abc", False, 1, "still down")


def _examples(tmp_path: Path) -> dict[IssueType, Issue]:
    """One issue of every type, as its check reports it."""
    unit = UnitState(unit="a.service", active="failed", sub="failed", result="exit-code", n_restarts=1, load="loaded")
    child = ChildState(name="vllm", kind="engine", pid=None, running=False, healthy=False, restarting=False,
                       restarts=0, down_since=1.0, last_restart=None)
    made: list[tuple[IssueType, TargetKind, str, BaseModel]] = [
        (IssueType.BACKUP_OVERDUE, TargetKind.BACKUP, "n1",
         BackupDetails(last_attempt_at=1.0, last_error="destination not writable", max_age=3600.0)),
        (IssueType.BUS_UNUSABLE, TargetKind.BUS, "", BusDetails()),
        (IssueType.CHILD_DOWN, TargetKind.PROCESS, "vllm", child),
        (IssueType.DISK_LOW, TargetKind.DISK, str(tmp_path),
         DiskDetails(path=str(tmp_path), free_bytes=1, total_bytes=100, free_pct=1.0, min_free_pct=5.0,
                     min_free_gb=0.0)),
        (IssueType.ENGINE_DOWN, TargetKind.ENGINE, "m", EngineDetails(model="m", state="failed")),
        (IssueType.GPU_UNHEALTHY, TargetKind.GPU, "0", GpuHealth(index=0, name="g", temperature_c=99)),
        (IssueType.HTTP_DOWN, TargetKind.HTTP, "webui", HttpDetails(url="http://x/", why="HTTP 500")),
        (IssueType.MODEL_SILENT, TargetKind.MODEL, "big",
         ModelDetails(base_url="http://x/v1", model="big", why="HTTP 500", process="vllm")),
        (IssueType.NODE_GONE, TargetKind.NODE, "nb", NodeDetails(node="nb")),
        (IssueType.SCHEDULER_STORE_DAMAGED, TargetKind.FILE, str(tmp_path / "s.sqlite"),
         StoreDetails(path=str(tmp_path / "s.sqlite"), error="file is not a database")),
        (IssueType.UNIT_FAILED, TargetKind.UNIT, "a.service", unit),
        (IssueType.UNIT_MISSING, TargetKind.UNIT, "a.service", unit.model_copy(update={"load": "not-found"})),
    ]
    return {t: Issue(type=t, check="c", target=Target(k, n), summary="s", details=d) for t, k, n, d in made}


@pytest.mark.parametrize("fixup", FIXUPS, ids=lambda f: f.name)
def test_fixup_turns_each_issue_type_it_repairs_into_one_of_its_action_kinds(fixup: Fixup, tmp_path: Path) -> None:
    sup = ProcessSupervisor()
    sup.add(ChildProcess(ChildSpec(name="vllm", kind="engine", argv=["true"]), tmp_path))
    ctx = HealingContext(HealingConfig(cache_dirs=[tmp_path]), "n1", tmp_path, supervisor=sup,
                         scheduler_store=tmp_path / "s.sqlite")
    examples = _examples(tmp_path)
    assert set(examples) == set(IssueType)
    for t in fixup.issues:
        action = fixup.action(examples[t], ctx)
        assert action.kind in fixup.kinds, (t, action.kind)
