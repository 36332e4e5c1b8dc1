"""Cheap lexical features of a request for the learned router (:mod:`route_model`).

Two kinds, both named so the explanation can say which decided:

- *terms*, present or not: words (``w:``), word pairs (``b:``), five-letter word prefixes (``p:``, a
  poor man's stemmer: "reconcile", "reconciling" and "reconciliation" share ``p:recon``) and the
  opening word (``f:``). Only terms in the model's vocabulary count; the rest are dropped.
- *dense* values: length buckets (one-hot, so a linear model can treat 5 and 50 words differently),
  counts of questions, lines and code/maths markers (all of the newest user turn: the system prompt and
  earlier turns only count through the number of turns), and the rule features of :mod:`classifier`
  (reasoning cues, action verbs, the rule score ...), so the rules stay inputs and the model learns how
  much each is worth.

Everything is computed from the newest user turn (bounded like the rules' scan), so the cost per request
is a regex pass and a few hundred set operations.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass

from hydra_os.inference.classifier import Features, rule_parts

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_QUESTION = re.compile(r"\?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_MATH_SYMBOL = re.compile(r"[=^∑∫√≤≥]|\b(?:sum|mod|log|sqrt|lim)\b")
_PREFIX = 5  # letters kept by the prefix terms
_MAX_WORDS = 600  # words of the ask that make terms (head of the scan); lengths still count all of it

# Upper bounds of the word-count buckets (the last bucket is open).
_WORD_BUCKETS = (3, 8, 15, 30, 60, 120)

DENSE: tuple[str, ...] = (
    *(f"len:words<={b}" for b in _WORD_BUCKETS),
    f"len:words>{_WORD_BUCKETS[-1]}",
    "len:log_words",
    "len:lines",
    "len:log_ask_chars",
    "ask:questions",
    "ask:numbers",
    "ask:math_symbols",
    "conv:turns",
    "rule:heavy_cues",
    "rule:standard_cues",
    "rule:actions",
    "rule:clauses",
    "rule:code_block",
    "rule:code_ask",
    "rule:math",
    "rule:brief",
    "rule:simple",
    "rule:score",
)


@dataclass(frozen=True, slots=True)
class Lexical:
    terms: frozenset[str]
    dense: tuple[float, ...]  # in the order of DENSE


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def terms_of(words: list[str]) -> set[str]:
    ws = words[:_MAX_WORDS]
    out = {f"w:{w}" for w in ws}
    out.update(f"b:{a}_{b}" for a, b in itertools.pairwise(ws))
    out.update(f"p:{w[:_PREFIX]}" for w in ws if len(w) > _PREFIX)
    if ws:
        out.add(f"f:{ws[0]}")
    return out


def _bucket(words: int) -> list[float]:
    hot = [0.0] * (len(_WORD_BUCKETS) + 1)
    for i, b in enumerate(_WORD_BUCKETS):
        if words <= b:
            hot[i] = 1.0
            break
    else:
        hot[-1] = 1.0
    return hot


def lexical(ask: str, f: Features) -> Lexical:
    """Features of ``ask`` (the scanned newest user turn) given the rule features ``f`` of the request."""
    words = tokens(ask)
    n = len(words)
    # the rule score of the ask alone: the rules' whole-prompt parts (prompt tokens, turns) left out
    score = sum(w for w, _ in rule_parts(dataclasses.replace(f, est_tokens=len(ask) // 4 + 1, user_turns=1)))
    dense = (
        *_bucket(n),
        math.log1p(n),
        math.log1p(ask.count("\n")),
        math.log1p(len(ask)),  # the ask, not the whole prompt: a system prompt or pasted context is not
        # a harder question (the hard rule in auto_classifier keeps very long prompts off the fast tier)
        float(min(len(_QUESTION.findall(ask)), 5)),
        math.log1p(len(_NUMBER.findall(ask))),
        math.log1p(len(_MATH_SYMBOL.findall(ask))),
        math.log1p(f.user_turns),
        float(min(f.heavy_cues, 6)),
        float(min(f.standard_cues, 6)),
        float(min(f.actions, 10)),
        math.log1p(f.clauses),
        float(f.code_block),
        float(f.code_ask),
        float(f.math),
        float(f.brief),
        float(f.simple),
        score,
    )
    return Lexical(frozenset(terms_of(words)), dense)
