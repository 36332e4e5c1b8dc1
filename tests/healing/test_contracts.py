"""Contract tests of every check and every fixup module (Home Assistant Supervisor's per-module
``test_base``): what each declares is consistent, so renaming a check or an issue type fails here
instead of silently disabling the fixups that repaired it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.details import DETAILS, HttpDetails, NodeDetails
from hydra_os.healing.errors import HealingError
from hydra_os.healing.incidents import IncidentStore
from hydra_os.healing.model import Check, Fixup, Issue
from hydra_os.healing.registry import discover_checks, discover_fixups
from hydra_os.healing.target import Target

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
