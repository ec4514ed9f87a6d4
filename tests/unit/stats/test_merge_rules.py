"""Bin-merging rules of other tools (s + b >= 10 and b >= 1; a cap on the background's MC error),
checked against merges worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepopt.objectives.base import ObjectiveInputs
from hepopt.objectives.binning import Binning
from hepopt.objectives.builtin import AsimovSignificance
from hepopt.objectives.robust import RobustSignificance
from hepopt.stats.binning import MergeRule, merge_low_background, merge_map
from hepopt.stats.significance import asimov_significance_closed_form


def test_s_plus_b_and_b_rule_merges_from_the_top() -> None:
    s = np.array([0.5, 1.0, 2.0, 6.0, 3.0])
    b = np.array([30.0, 8.0, 2.0, 0.5, 0.2])
    # From the top: 3+0.2 (no) +6+0.5 = 9.7 (no) +2+2 = 13.7, b = 2.7 >= 1 -> close {2,3,4};
    # 1+8 = 9 (no) +0.5+30 = 39.5 -> close {0,1}.
    rule = MergeRule(min_background=1.0, min_total=10.0)
    np.testing.assert_array_equal(merge_map(b, rule, s), [0, 0, 1, 1, 1])
    merged_s, merged_b = merge_low_background(s, b, rule)
    np.testing.assert_allclose(merged_s, [1.5, 11.0])
    np.testing.assert_allclose(merged_b, [38.0, 2.7])
    # b >= 1 alone closes {3,4} only after bin 2 (0.7 < 1): the same bins here, but not with s
    np.testing.assert_array_equal(merge_map(b, MergeRule(min_background=1.0), s), [0, 1, 2, 2, 2])
    assert rule.describe() == "s + b >= 10 and b >= 1"


def test_background_mc_error_rule() -> None:
    b = np.array([10.0, 4.0, 1.0, 1.0])
    sumw2 = np.array([1.0, 4.0, 0.5, 0.5])  # relative errors 10 %, 50 %, 71 %, 71 %
    rule = MergeRule(max_background_error=0.5)
    # top: sqrt(0.5)/1 = 0.71 no; + bin 2: sqrt(1)/2 = 0.5 yes -> {2,3}; bin 1: 2/4 = 0.5 yes; bin 0 yes.
    np.testing.assert_array_equal(merge_map(b, rule, b_sumw2=sumw2), [0, 1, 2, 2])
    assert "MC error of b <= 50%" in rule.describe()
    with pytest.raises(ValueError, match="sum of squared weights"):
        merge_map(b, rule)


@pytest.mark.parametrize("bad", [{"min_background": 0.0}, {"min_total": -1.0}, {"max_background_error": 0.0}])
def test_bad_rules_name_the_option(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        MergeRule(**bad)


def test_objectives_apply_the_rule_as_a_hand_merged_histogram() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    labels = (rng.random(n) < 0.3).astype(np.int8)
    scores = np.clip(rng.normal(0.3 + 0.4 * labels, 0.15), 0.0, 1.0)
    weights = np.where(labels == 1, 0.02, rng.uniform(0.05, 0.15, n))
    inputs = ObjectiveInputs(scores, labels, weights, (1 - labels).astype(np.int16), ("sig", "bkg"))
    edges = np.linspace(0, 1, 21)
    s = np.histogram(scores[labels == 1], edges, weights=weights[labels == 1])[0]
    b = np.histogram(scores[labels == 0], edges, weights=weights[labels == 0])[0]
    w2 = np.histogram(scores[labels == 0], edges, weights=weights[labels == 0] ** 2)[0]
    # by hand: walk down from the top bin
    groups: list[tuple[float, float]] = []
    acc = [0.0, 0.0, 0.0]
    for i in range(19, -1, -1):
        acc = [acc[0] + s[i], acc[1] + b[i], acc[2] + w2[i]]
        if acc[1] >= 1 and acc[0] + acc[1] >= 10 and math.sqrt(acc[2]) <= 0.1 * acc[1]:
            groups.append((acc[0], acc[1]))
            acc = [0.0, 0.0, 0.0]
    last_s, last_b = groups.pop()
    groups.append((last_s + acc[0], last_b + acc[1]))
    hand_s, hand_b = np.array(groups).T
    expected = asimov_significance_closed_form(hand_s, hand_b)
    options = {"bins": 20, "min_background": 1.0, "min_total": 10.0, "max_background_error": 0.1}
    assert 1 < len(groups) < 20  # the rule merged some bins, not all
    assert AsimovSignificance(method="closed_form", **options).evaluate(inputs).value == pytest.approx(expected)
    robust = RobustSignificance(mc_stat=False, **options).evaluate(inputs)
    assert robust.value == pytest.approx(expected, rel=1e-3)  # no variations: the stat-only fit
    assert Binning.from_options(**options).describe().endswith("s + b >= 10 and b >= 1 and MC error of b <= 10%")
