from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from hepopt.objectives import ObjectiveInputs, make_objective
from hepopt.stats.metrics import weighted_bce, weighted_ks, weighted_roc_auc


def brute_force_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """Weighted Mann-Whitney: P(score_signal > score_background), ties counted half."""
    sig, bkg = labels == 1, labels == 0
    diff = scores[sig][:, None] - scores[bkg][None, :]
    pair_w = weights[sig][:, None] * weights[bkg][None, :]
    wins = (diff > 0) + 0.5 * (diff == 0)
    return float((wins * pair_w).sum() / pair_w.sum())


@pytest.mark.parametrize("seed", range(3))
def test_weighted_auc_matches_pairwise_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(300), 2)  # rounding makes ties
    labels = (rng.random(300) < 0.4).astype(np.int8)
    weights = rng.uniform(0.1, 3.0, 300)
    assert weighted_roc_auc(scores, labels, weights) == pytest.approx(
        brute_force_auc(scores, labels, weights), rel=1e-12
    )


def test_weighted_bce_by_hand() -> None:
    p, y, w = np.array([0.9, 0.2, 0.6]), np.array([1, 0, 0]), np.array([1.0, 2.0, 1.0])
    expected = -(1.0 * np.log(0.9) + 2.0 * np.log(0.8) + 1.0 * np.log(0.4)) / 4.0
    assert weighted_bce(p, y, w) == pytest.approx(expected, rel=1e-12)


def test_bce_objective_balances_classes() -> None:
    p, y = np.array([0.9, 0.8, 0.3]), np.array([1, 1, 0])
    w = np.array([1.0, 1.0, 100.0])
    expected = 0.5 * (-(np.log(0.9) + np.log(0.8)) / 2) + 0.5 * (-np.log(0.7))
    got = make_objective("bce").evaluate(ObjectiveInputs(p, y, w)).value
    assert got == pytest.approx(expected, rel=1e-12)


def test_weighted_ks_reduces_to_scipy_for_unit_weights() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 400), rng.normal(0.2, 1, 600)
    distance, pvalue = weighted_ks(a, np.ones_like(a), b, np.ones_like(b))
    ref = ks_2samp(a, b, method="asymp")
    assert distance == pytest.approx(ref.statistic, rel=1e-12)
    assert pvalue == pytest.approx(ref.pvalue, rel=1e-9)


def test_weighted_correlation_matches_numpy_on_repeated_events() -> None:
    """Integer weights are repeated events: the weighted correlation equals numpy's on the copies."""
    from hepopt.results.inputs import weighted_correlation

    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 3))
    x[:, 1] += 0.7 * x[:, 0]
    counts = rng.integers(1, 4, 300)
    expected = np.corrcoef(np.repeat(x, counts, axis=0), rowvar=False)
    np.testing.assert_allclose(weighted_correlation(x, counts.astype(float)), expected, atol=1e-12)
    constant = np.c_[x[:, :1], np.ones(300)]
    np.testing.assert_allclose(weighted_correlation(constant, np.ones(300)), np.eye(2))  # a constant: 0, not NaN
