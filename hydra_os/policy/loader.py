"""Reading the owner's policy file (TOML) into a :class:`~hydra_os.policy.rules.Policy`.

Format::

    include_defaults = true     # append the built-in rules after these (default true)

    [[rule]]
    id = "restart-ollama"
    level = "AUTONOMOUS"
    kinds = ["service.restart"]
    targets = ["unit:ollama.service"]
    reason = "ollama crashes sometimes; restarting is safe"

A malformed file raises :class:`~hydra_os.policy.errors.PolicyFileError` naming the line and the
problem (TOML syntax errors carry tomllib's line; a bad rule points at its ``[[rule]]`` header or
at the offending ``key =`` line inside it).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hydra_os.policy.defaults import DEFAULT_POLICY_TOML
from hydra_os.policy.errors import PolicyFileError
from hydra_os.policy.rules import Policy, Rule

_TOP_KEYS = {"include_defaults", "rule"}
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]")
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def _rule_lines(text: str) -> list[int]:
    """1-based line numbers of each ``[[rule]]`` header, in order."""
    return [i for i, line in enumerate(text.splitlines(), 1) if _RULE_HEADER.match(line)]


def _key_line(text: str, key: str, start: int = 1, end: int | None = None) -> int | None:
    pat = re.compile(rf"^\s*{re.escape(key)}\s*=|^\s*\[+\s*{re.escape(key)}\b")
    lines = text.splitlines()
    for i in range(start, (end or len(lines)) + 1):
        if i - 1 < len(lines) and pat.match(lines[i - 1]):
            return i
    return None


def _id_line(text: str, rule_id: str) -> int | None:
    pat = re.compile(rf"""^\s*id\s*=\s*["']{re.escape(rule_id)}["']""")
    for i, line in enumerate(text.splitlines(), 1):
        if pat.match(line):
            return i
    return None


def _describe(err: ValidationError) -> tuple[str | None, str]:
    e = err.errors()[0]
    field = ".".join(str(p) for p in e["loc"]) or None
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        return field, f"unknown key {field!r}; expected one of {', '.join(sorted(Rule.model_fields))}"
    if e["type"] == "missing":
        return field, f"missing required key {field!r}"
    if field:
        return field, f"{field}: got {e.get('input')!r}, expected: {msg}"
    return None, msg


def parse_rules(text: str, source: str) -> tuple[list[Rule], bool]:
    """Rules of one policy text and its ``include_defaults`` flag; raises PolicyFileError."""
    data = _toml(text, source)
    for key in data:
        if key not in _TOP_KEYS:
            raise PolicyFileError(
                source, f"unknown top-level key {key!r}; expected 'include_defaults' or [[rule]] tables",
                _key_line(text, key),
            )
    include = data.get("include_defaults", True)
    if not isinstance(include, bool):
        raise PolicyFileError(source, f"include_defaults: got {include!r}, expected true or false",
                              _key_line(text, "include_defaults"))
    raw_rules: Any = data.get("rule", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise PolicyFileError(source, "'rule' must be an array of tables ([[rule]])", _key_line(text, "rule"))
    headers = _rule_lines(text)
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        start = headers[i] if i < len(headers) else None
        end = headers[i + 1] - 1 if i + 1 < len(headers) else None
        label = f"rule #{i + 1}" + (f" ({raw['id']!r})" if isinstance(raw.get("id"), str) else "")
        rule = _rule(raw, text, source, label, start, end)
        if rule.id in seen:
            raise PolicyFileError(
                source, f"{label}: id {rule.id!r} is already used by rule #{seen[rule.id]}", start
            )
        seen[rule.id] = i + 1
        rules.append(rule)
    return rules, include


def _toml(text: str, source: str) -> dict[str, Any]:
    """The parsed text; PolicyFileError with the line TOML names (the last line for 'end of document')."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = _TOML_LINE.search(str(e))
        line = int(m.group(1)) if m else None
        problem = _TOML_LINE.sub("", str(e)).strip()
        if line is None and "end of document" in problem:
            line = max(1, len(text.rstrip("\n").splitlines()))
            problem = problem.replace("(at end of document)", "(at the end of the file)")
        raise PolicyFileError(source, f"not valid TOML: {problem}", line) from None


def _rule(raw: dict[str, Any], text: str, source: str, label: str, start: int | None, end: int | None) -> Rule:
    """One [[rule]] table (lines ``start``..``end``) as a Rule; PolicyFileError at the offending key's line."""
    try:
        return Rule.model_validate(raw)
    except ValidationError as e:
        field, problem = _describe(e)
        line = start
        if field and start:
            line = _key_line(text, field.split(".")[0], start, end) or start
        raise PolicyFileError(source, f"{label}: {problem}", line) from None


def _defaults() -> list[Rule]:
    rules, _ = parse_rules(DEFAULT_POLICY_TOML, "built-in defaults")
    return rules


def default_policy() -> Policy:
    return Policy(rules=_defaults(), source="built-in defaults",
                  digest=hashlib.sha256(DEFAULT_POLICY_TOML.encode()).hexdigest())


def policy_from_text(text: str, source: str) -> Policy:
    """The effective policy of an owner's file: its rules, then the defaults unless excluded."""
    rules, include = parse_rules(text, source)
    if include:
        own = {r.id for r in rules}
        for r in _defaults():
            if r.id in own:
                raise PolicyFileError(
                    source,
                    f"rule id {r.id!r} is a built-in rule's id; rename it or set include_defaults = false",
                    _id_line(text, r.id),
                )
            rules.append(r)
    return Policy(rules=rules, source=source, digest=hashlib.sha256(text.encode()).hexdigest())


def load_policy(path: Path | None) -> Policy:
    """The built-in defaults when ``path`` is None, else the owner's file (validated)."""
    if path is None:
        return default_policy()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyFileError(str(path), f"cannot read it ({e.strerror})") from None
    except UnicodeDecodeError:
        raise PolicyFileError(str(path), "not UTF-8 text") from None
    return policy_from_text(text, str(path))
