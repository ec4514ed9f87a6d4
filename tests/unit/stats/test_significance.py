from __future__ import annotations

import itertools

import numpy as np
import pytest

from hepopt.objectives import ObjectiveInputs, make_objective
from hepopt.stats.binning import binned_yields, merge_low_background
from hepopt.stats.significance import asimov_significance_closed_form, pyhf_asimov_significance, stat_only_spec


def closed_form_by_hand(s: list[float], b: list[float]) -> float:
    """Z = sqrt(sum 2((s+b) ln(1+s/b) - s)), written out bin by bin."""
    total = 0.0
    for s_i, b_i in zip(s, b, strict=True):
        total += 2 * ((s_i + b_i) * np.log(1 + s_i / b_i) - s_i)
    return float(np.sqrt(total))


def test_closed_form_single_bin_limits() -> None:
    # For s << b, Z -> s / sqrt(b).
    assert asimov_significance_closed_form(np.array([1.0]), np.array([1e6])) == pytest.approx(1e-3, rel=1e-3)
    assert asimov_significance_closed_form(np.array([5.0, 3.0]), np.array([10.0, 2.0])) == pytest.approx(
        closed_form_by_hand([5.0, 3.0], [10.0, 2.0]), rel=1e-12
    )


@pytest.mark.parametrize("seed", range(5))
def test_pyhf_fit_agrees_with_closed_form(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_bins = int(rng.integers(1, 12))
    s = rng.uniform(0.1, 50.0, n_bins)
    b = rng.uniform(0.5, 500.0, n_bins)
    z_pyhf = pyhf_asimov_significance(s, b)
    assert z_pyhf == pytest.approx(closed_form_by_hand(list(s), list(b)), rel=1e-4)


def test_pyhf_large_significance_stays_finite() -> None:
    # Phi^-1(1 - p0) overflows here; sqrt(q0) does not.
    s, b = np.array([400.0, 900.0]), np.array([20.0, 30.0])
    assert pyhf_asimov_significance(s, b) == pytest.approx(closed_form_by_hand([400, 900], [20, 30]), rel=1e-4)


def test_pyhf_restores_the_callers_backend() -> None:
    import pyhf

    before = pyhf.get_backend()
    pyhf_asimov_significance(np.array([1.0]), np.array([4.0]))
    assert pyhf.get_backend() == before


def test_stat_only_spec_has_only_the_signal_normfactor() -> None:
    import pyhf

    model = pyhf.Model(stat_only_spec(np.array([1.0, 2.0]), np.array([3.0, 4.0])), poi_name="mu")
    assert model.config.parameters == ["mu"]
    assert model.config.auxdata == []


def test_binned_yields_match_a_hand_built_histogram() -> None:
    scores = np.array([0.05, 0.15, 0.55, 0.95, 1.0, 0.0, 0.5])
    labels = np.array([1, 1, 1, 1, 1, 0, 0])
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    s, b = binned_yields(scores, labels, weights, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(s, [1.0 + 2.0, 3.0 + 4.0 + 5.0])  # 1.0 falls in the last bin
    np.testing.assert_allclose(b, [6.0, 7.0])


def test_merge_low_background_from_the_top() -> None:
    s, b = merge_low_background(np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 2.0, 0.5, 0.0]), 1.0)
    np.testing.assert_allclose(s, [1.0, 2.0 + 3.0 + 4.0])
    np.testing.assert_allclose(b, [5.0, 2.5])
    s, b = merge_low_background(np.array([1.0, 2.0]), np.array([0.1, 0.2]), 1.0)
    np.testing.assert_allclose((s, b), ([3.0], [0.3]))  # nothing reaches the floor: one bin


def test_asimov_objective_on_events_equals_hand_histogram() -> None:
    rng = np.random.default_rng(7)
    n = 4000
    labels = (rng.random(n) < 0.3).astype(np.int8)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.15), 0, 1)
    weights = np.where(labels == 1, 0.02, 1.5) * rng.uniform(0.5, 1.5, n)
    edges = np.linspace(0, 1, 6)

    def in_bin(lo: float, hi: float) -> np.ndarray:
        return (scores >= lo) & ((scores < hi) | (hi == 1.0))

    s = [weights[(labels == 1) & in_bin(lo, hi)].sum() for lo, hi in itertools.pairwise(edges)]
    b = [weights[(labels == 0) & in_bin(lo, hi)].sum() for lo, hi in itertools.pairwise(edges)]
    keep = [i for i in range(5) if b[i] > 0]  # every bin is populated in this sample
    assert len(keep) == 5
    objective = make_objective("asimov_significance", {"bins": 5})
    result = objective.evaluate(ObjectiveInputs(scores, labels, weights))
    assert result.value == pytest.approx(closed_form_by_hand(s, b), rel=1e-4)
    assert result.extras["signal"] == pytest.approx(sum(s))
    closed = make_objective("asimov_significance", {"bins": 5, "method": "closed_form"})
    assert closed.evaluate(ObjectiveInputs(scores, labels, weights)).value == pytest.approx(result.value, rel=1e-6)
