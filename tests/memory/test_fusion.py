"""Weighted reciprocal-rank and convex fusion, lexical coverage and reply folding (memory.archival.fusion)."""

from __future__ import annotations

import pytest

from memory.archival.dedup import point_id
from memory.archival.fusion import convex, fold_replies, lexical_coverage, rrf


def test_rrf_weights_and_per_item_scales() -> None:
    got = rrf([["a", "b"], ["b", "c"]], k=10, weights=[1.0, 0.5], scales=[None, {"b": 0.0}])
    assert got == pytest.approx({"a": 1 / 11, "b": 1 / 12, "c": 0.5 / 12})
    with pytest.raises(ValueError, match="one per ranking"):
        rrf([["a"]], k=10, scales=[None, None])


def test_convex_keeps_score_gaps_that_reciprocal_rank_drops() -> None:
    # the vector side has "a" far ahead of "b"; BM25 has "b" barely ahead of "a": reciprocal rank
    # calls it a tie, the normalised scores do not
    rankings = [["a", "b"], ["b", "a"]]
    assert rrf(rankings, k=60)["a"] == pytest.approx(rrf(rankings, k=60)["b"])
    got = convex(rankings, [1.0, 1.0], [{"a": 0.9, "b": 0.3}, {"b": 5.0, "a": 4.5}], [None, None])
    assert got == pytest.approx({"a": 1.0 + 0.9, "b": 0.3 / 0.9 + 1.0})
    # a ranking without scores counts by rank; a per-item scale and a weight multiply; negatives floor at 0
    got = convex([["x", "y"], ["y", "x"]], [0.5, 2.0], [None, {"y": -1.0, "x": 2.0}], [None, {"x": 0.5}])
    assert got == pytest.approx({"x": 0.5 * 1.0 + 2.0 * 0.5 * 1.0, "y": 0.5 * 0.5})
    with pytest.raises(ValueError, match="one per ranking"):
        convex([["a"]], [1.0], [None, None], [None])


def test_lexical_coverage_is_the_share_of_the_query_words_a_hit_carries() -> None:
    # two query terms whose best single-term scores are 3 and 1: a hit scoring 4 carries all of it
    cov = lexical_coverage({"full": 4.0, "rare": 3.0, "common": 1.0, "over": 9.0}, [3.0, 1.0])
    assert cov == pytest.approx({"full": 1.0, "rare": 0.75, "common": 0.25, "over": 1.0})
    assert lexical_coverage({"x": 1.0}, [0.0]) == {"x": 0.0}


def test_fold_replies_credits_the_owner_turn_and_lowers_only_echoes() -> None:
    owner, echo, advice, other = point_id("owner"), point_id("echo"), point_id("advice"), point_id("other")
    fused = {echo: 0.05, owner: 0.01, advice: 0.04, other: 0.03}
    pids = {echo: "echo", owner: "owner", advice: "advice", other: "other"}
    folded = fold_replies(
        fused,
        {echo: ("owner", True), advice: ("owner", False), owner: (None, False), other: (None, False)},
        pids,
        0.3,
        credit_absent=False,
    )
    assert folded == {echo: owner, advice: owner}
    assert fused[owner] == pytest.approx(0.05)  # the best of its replies
    assert fused[echo] == pytest.approx(0.015)  # an echo drops below the owner turn ...
    assert fused[advice] == pytest.approx(0.04)  # ... a reply that adds something does not


def test_fold_replies_adds_an_absent_owner_turn_only_without_filters() -> None:
    echo, owner = point_id("echo"), point_id("owner")
    fused, pids = {echo: 0.05}, {echo: "echo"}
    assert fold_replies(dict(fused), {echo: ("owner", True)}, dict(pids), 0.3, credit_absent=False) == {}
    folded = fold_replies(fused, {echo: ("owner", True)}, pids, 0.3, credit_absent=True)
    assert folded == {echo: owner} and fused[owner] == pytest.approx(0.05) and pids[owner] == "owner"
