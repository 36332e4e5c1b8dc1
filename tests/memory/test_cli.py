"""``hydra memory`` commands in-process (typer's CliRunner) on a state dir with --offline.

The same command code talks to the bus service in tests/memory/test_e2e_memory.py; here the many
cases run without starting processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hydra_os.cli.app import app


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"HYDRA_NODE__STATE_DIR": str(tmp_path / "state"), "HYDRA_MEMORY__EMBED__BACKEND": "hashing",
           "HYDRA_CONFIG": ""}

    def invoke(*args: str, code: int = 0, state: Path | None = None) -> str:
        e = dict(env, HYDRA_NODE__STATE_DIR=str(state)) if state else env
        r = runner.invoke(app, ["memory", *args, "--offline"], env=e)
        out = r.stdout + (r.stderr if r.stderr_bytes is not None else "")
        assert r.exit_code == code, f"hydra memory {' '.join(args)} -> {r.exit_code}: {out}"
        assert "Traceback" not in out
        return out

    return invoke


def test_cli_commands_offline(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("core", "edit", "owner", "--append", "Name: Sam")
    run("core", "edit", "owner", "--replace", "Sam", "--with", "Sam Rivera")
    out = run("core", "show", "owner", "--history")
    assert "owner (16/2000 chars)" in out and "replace 'Sam' -> 'Sam Rivera'" in out
    assert "<" not in run("core", "show")  # the readable view, not the prompt markup
    run("remember", "Sam moved to Porto in May", "--fact", "Sam", "lives_in", "Porto", "--tag", "life")
    run("remember", "The NAS is at 10.0.0.5", "--tag", "infra")
    hits = json.loads(run("search", "where is the NAS", "--json", "--tag", "infra"))
    assert [h["passage"]["text"] for h in hits] == ["The NAS is at 10.0.0.5"]
    assert "no passages match" in run("search", "NAS", "--until", "2000-01-01")
    assert "Porto" in run("graph", "facts", "Sam")
    assert json.loads(run("graph", "facts", "Sam", "--at", "1999-01-01", "--json")) == []
    assert "Sam" in run("graph", "neighbours", "Porto", "--depth", "1")
    assert "L-0001 recorded" in run("learnings", "add", "--context", "OOM", "--learning", "use 16k context")
    assert "L-0001" in run("learnings", "list", "--search", "context")
    explained = run("explain", "where does Sam live?", "--text")
    assert "entities mentioned: Sam" in explained and "## Known facts" in explained
    dump = tmp_path / "m.jsonl"
    exported = run("export", str(dump))
    assert "2 entities" in exported and exported.rstrip().endswith("1 learning"), exported  # not "entitys"
    assert "reindexed 3 passages with hashing-bow-v1-384" in run("reindex")
    fresh = tmp_path / "fresh"
    assert "3 passages" in run("import", str(dump), state=fresh)
    assert json.loads(run("core", "show", "owner", "--json", state=fresh))["blocks"][0]["value"] == "Name: Sam Rivera"


def test_cli_owner_mistakes_exit_2_with_one_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "no core block 'nope'" in run("core", "edit", "nope", "--append", "x", code=2)
    assert "does not contain the text 'zzz'" in run("core", "edit", "owner", "--replace", "zzz", "--with", "y",
                                                    code=2)
    assert "exactly one of" in run("core", "edit", "owner", code=2)
    assert "--replace and --with go together" in run("core", "edit", "owner", "--replace", "x", code=2)
    run("core", "edit", "preferences", "--rewrite", "x" * 1990)
    assert "trim 2 characters" in run("core", "edit", "preferences", "--append", "editor: vim", code=2)
    assert "--since: expected an ISO date" in run("search", "x", "--since", "yesterday", code=2)
    assert "--mode: expected hybrid" in run("search", "x", "--mode", "fuzzy", code=2)
    # input the stores' own models refuse is an owner mistake too: one line naming the field, exit 2
    assert "text: String should have at least 1 character" in run("remember", "", code=2)
    assert "query: String should have at least 1 character" in run("explain", "", code=2)  # was a warning, exit 0
    assert "learning: String should have at least 1 character" in run(
        "learnings", "add", "--context", "c", "--learning", "", "--apply", "a", code=2)
    assert "no learnings" in run("learnings", "list")
    dump = tmp_path / "m.jsonl"
    run("export", str(dump))
    assert "never overwrites" in run("export", str(dump), code=2)
    assert "not empty" in run("import", str(dump), code=2)  # this state dir already holds memory
    garbled = tmp_path / "bad.jsonl"
    garbled.write_text("hello\n")
    assert "line 1: not JSON" in run("import", str(garbled), code=2)
