"""Rules and the policy file: matching, precedence, defaults, and malformed files with lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hydra_os.policy.engine import PolicyEngine
from hydra_os.policy.errors import PolicyFileError
from hydra_os.policy.loader import default_policy, load_policy, policy_from_text
from hydra_os.policy.model import Action, BlastRadius, Level
from hydra_os.policy.rules import UNKNOWN_RULE_ID


def decide(action: Action, text: str | None = None) -> tuple[Level, str]:
    policy = policy_from_text(text, "p.toml") if text is not None else default_policy()
    d = PolicyEngine(policy).decide(action)
    return d.level, d.rule_id


@pytest.mark.parametrize(("kind", "target", "extra", "level"), [
    # the autonomy spectrum table of the architecture
    ("service.restart", "unit:ollama.service", {}, Level.AUTONOMOUS),
    ("health.check", "http:webui", {}, Level.AUTONOMOUS),
    ("backup.run", "restic:home", {}, Level.AUTONOMOUS),
    ("model.route", "tier:fast", {}, Level.AUTONOMOUS),
    ("config.change", "node:gpu1", {}, Level.INFORM_AFTER),
    ("service.deploy", "unit:searxng", {}, Level.INFORM_AFTER),
    ("nixos.rebuild", "node:gpu1", {"reversible": True}, Level.INFORM_AFTER),
    ("nixos.rebuild", "node:gpu1", {"reversible": False}, Level.ASK_FIRST),
    ("data.delete", "archival:old", {}, Level.ASK_FIRST),
    ("model.load", "engine:vllm", {"estimated_cost": 20.0}, Level.ASK_FIRST),
    ("integration.add", "api:openai", {}, Level.ASK_FIRST),
    ("disk.wipe", "disk:/dev/sda", {}, Level.NEVER),
    ("data.purge", "memory:all", {}, Level.NEVER),
    ("service.restart", "unit:x", {"reversible": False, "blast_radius": BlastRadius.CLUSTER}, Level.NEVER),
])
def test_defaults_reproduce_the_spectrum(kind: str, target: str, extra: dict[str, Any], level: Level) -> None:
    assert decide(Action(kind=kind, target=target, **extra))[0] is level


def test_unknown_kind_asks_first() -> None:
    level, rule = decide(Action(kind="frobnicate.widget", target="x"))
    assert (level, rule) == (Level.ASK_FIRST, UNKNOWN_RULE_ID)


def test_owner_rules_come_first_but_never_wins_over_everything() -> None:
    text = """
[[rule]]
id = "owner-auto-everything"
level = "AUTONOMOUS"
kinds = ["*"]

[[rule]]
id = "owner-never-gpu1"
level = "NEVER"
kinds = ["service.restart"]
targets = ["unit:gpu1-*"]
"""
    # the owner's first match wins over the defaults' ASK_FIRST ...
    assert decide(Action(kind="data.delete", target="x"), text) == (Level.AUTONOMOUS, "owner-auto-everything")
    # ... but a NEVER rule later in the file still wins over the earlier AUTONOMOUS one
    assert decide(Action(kind="service.restart", target="unit:gpu1-vllm"), text) == (
        Level.NEVER, "owner-never-gpu1")
    # and the defaults' NEVER rules win over the owner's AUTONOMOUS
    assert decide(Action(kind="disk.format", target="x"), text) == (Level.NEVER, "never-destroy")


def test_include_defaults_false_drops_the_builtins() -> None:
    text = 'include_defaults = false\n[[rule]]\nid = "a"\nlevel = "AUTONOMOUS"\nkinds = ["x.*"]\n'
    assert decide(Action(kind="disk.format", target="x"), text) == (Level.ASK_FIRST, UNKNOWN_RULE_ID)
    assert decide(Action(kind="x.y", target="t"), text) == (Level.AUTONOMOUS, "a")


def test_param_cost_and_blast_radius_conditions() -> None:
    text = """
include_defaults = false
[[rule]]
id = "small-cache"
level = "AUTONOMOUS"
kinds = ["disk.free_cache"]
params = { path = "/var/cache/*", recursive = "true" }
max_cost = 1
blast_radius = ["service", "none"]
"""
    ok = Action(kind="disk.free_cache", target="t", params={"path": "/var/cache/hf", "recursive": True})
    assert decide(ok, text)[0] is Level.AUTONOMOUS
    for bad in (
        ok.model_copy(update={"params": {"path": "/home/owner", "recursive": True}}),
        ok.model_copy(update={"params": {"path": "/var/cache/hf"}}),
        ok.model_copy(update={"estimated_cost": 2.0}),
        ok.model_copy(update={"blast_radius": BlastRadius.NODE}),
    ):
        assert decide(bad, text)[0] is Level.ASK_FIRST


def test_content_hash_is_stable_and_covers_what_the_action_does() -> None:
    a = Action(kind="service.restart", target="unit:a", params={"b": 1, "a": [1, 2]}, summary="x")
    b = Action(kind="service.restart", target="unit:a", params={"a": [1, 2], "b": 1}, summary="other words")
    assert a.content_hash() == b.content_hash()  # key order and summary do not matter
    assert len(a.content_hash()) == 64
    for change in ({"target": "unit:b"}, {"params": {"b": 2, "a": [1, 2]}}, {"reversible": False},
                   {"estimated_cost": 1.0}, {"blast_radius": BlastRadius.NODE}, {"kind": "service.stop"}):
        assert a.model_copy(update=change).content_hash() != a.content_hash(), change


@pytest.mark.parametrize(("text", "line", "words"), [
    ('[[rule]]\nid = "a"\nlevel = "SOMETIMES"\nkinds = ["x"]\n', 3, "level"),
    ('\n\n[[rule]]\nid = "a"\nlevel = "NEVER"\n', 3, "missing required key 'kinds'"),
    ('[[rule]]\nid = "a"\nlevel = "NEVER"\nkinds = ["x"]\n\n[[rule]]\nid = "b"\nlevel = "NEVER"\n'
     'kinds = ["x"]\ncolour = "red"\n', 10, "unknown key 'colour'"),
    ('[[rule]]\nid = "a"\nlevel = "NEVER"\nkinds = ["x"\n', 4, "not valid TOML"),
    ('[[rule]]\nid = "a"\nlevel = "NEVER"\nkinds = ["x"]\n[[rule]]\nid = "a"\nlevel = "NEVER"\nkinds = ["y"]\n',
     5, "already used"),
    ('include_defaults = "yes"\n', 1, "include_defaults"),
    ('rules = []\n', 1, "unknown top-level key 'rules'"),
    ('[[rule]]\nid = "auto-restart"\nlevel = "NEVER"\nkinds = ["x"]\n', 2, "built-in"),
    ('[[rule]]\nid = "a"\nlevel = "NEVER"\nkinds = ["x"]\nmin_cost = 5\nmax_cost = 1\n', 1, "min_cost"),
])
def test_malformed_files_name_the_line_and_problem(text: str, line: int, words: str) -> None:
    with pytest.raises(PolicyFileError) as ei:
        policy_from_text(text, "owner.toml")
    assert ei.value.line == line, str(ei.value)
    assert words in str(ei.value)
    assert str(ei.value).startswith(f"policy file owner.toml line {line}: ")


def test_engine_keeps_the_last_good_policy(tmp_path: Path) -> None:
    f = tmp_path / "policy.toml"
    f.write_text('[[rule]]\nid = "a"\nlevel = "AUTONOMOUS"\nkinds = ["frob.*"]\n')
    engine = PolicyEngine.from_file(f)
    assert engine.decide(Action(kind="frob.x", target="t")).level is Level.AUTONOMOUS
    f.write_text('[[rule]]\nid = "a"\nlevel = "AUTONOMOUS"\nkinds = ["frob.*"\n')  # broken
    err = engine.reload(f)
    assert err is not None and err.line == 4
    assert engine.decide(Action(kind="frob.x", target="t")).level is Level.AUTONOMOUS
    assert engine.last_error is not None
    f.write_text('[[rule]]\nid = "a"\nlevel = "NEVER"\nkinds = ["frob.*"]\n')
    assert engine.reload(f) is None
    assert engine.decide(Action(kind="frob.x", target="t")).level is Level.NEVER
    with pytest.raises(PolicyFileError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")


def test_content_hash_is_sha256_of_canonical_json() -> None:
    import hashlib

    literal = ('{"blast_radius":"service","estimated_cost":0.0,"kind":"service.restart",'
               '"params":{"unit":"ollama.service"},"reversible":true,"target":"unit:ollama.service"}')
    a = Action(kind="service.restart", target="unit:ollama.service", params={"unit": "ollama.service"})
    assert a.content_hash() == hashlib.sha256(literal.encode()).hexdigest()
