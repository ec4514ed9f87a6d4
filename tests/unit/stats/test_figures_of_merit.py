"""Figures of merit against hand computations, brute-force scans and an independent derivation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepopt.objectives import ObjectiveInputs, make_objective
from hepopt.stats.figures_of_merit import (
    asimov_significance_with_uncertainty,
    background_rejection,
    best_cut_significance,
    separation_power,
)


def inputs(scores: list[float], labels: list[int], weights: list[float]) -> ObjectiveInputs:
    n = len(scores)
    return ObjectiveInputs(
        np.array(scores), np.array(labels), np.array(weights, dtype=np.float64), np.zeros(n, np.int16), ("all",)
    )


def test_separation_power_by_hand() -> None:
    # Two bins; signal shape (1/4, 3/4), background (3/4, 1/4): 1/2 (0.5^2 + 0.5^2) / 1 = 0.25.
    data = inputs([0.2, 0.7, 0.2, 0.7], [1, 1, 0, 0], [1.0, 3.0, 3.0, 1.0])
    assert separation_power(data.scores, data.labels, data.weights, bins=2) == pytest.approx(0.25)
    apart = inputs([0.9, 0.1], [1, 0], [1.0, 5.0])
    assert separation_power(apart.scores, apart.labels, apart.weights, bins=2) == pytest.approx(1.0)
    same = inputs([0.4, 0.4], [1, 0], [2.0, 7.0])
    assert separation_power(same.scores, same.labels, same.weights) == 0.0


def test_best_cut_by_hand() -> None:
    # cut >= 0.9: s 2, b 0 (too little background); >= 0.8: 2/sqrt(3); >= 0.6: 4/sqrt(5); >= 0.3: 4/3
    data = inputs([0.9, 0.8, 0.6, 0.3], [1, 0, 1, 0], [2.0, 1.0, 2.0, 4.0])
    assert best_cut_significance(data.scores, data.labels, data.weights) == pytest.approx(
        (4 / math.sqrt(5), 0.6, 4.0, 1.0)
    )
    z, cut, _, _ = best_cut_significance(data.scores, data.labels, data.weights, "s/sqrt(b)")
    assert (z, cut) == (pytest.approx(4.0), 0.6)
    objective = make_objective("s_over_sqrt_s_plus_b", {"min_signal_efficiency": 0.5})
    result = objective.evaluate(data)
    assert result.value == pytest.approx(4 / math.sqrt(5))
    assert result.extras["cut"] == 0.6


@pytest.mark.parametrize("formula", ["s/sqrt(s+b)", "s/sqrt(b)"])
@pytest.mark.parametrize("min_efficiency", [0.0, 0.25, 0.8])
def test_best_cut_matches_a_brute_force_scan(formula: str, min_efficiency: float) -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 300)
    scores = np.round(np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1), 2)  # ties on purpose
    weights = rng.uniform(0.1, 2.0, 300) * np.where(labels == 1, 0.2, 1.0)
    best = 0.0
    total = weights[labels == 1].sum()
    for cut in np.unique(scores):  # the independent, slow way
        above = scores >= cut
        s, b = weights[above & (labels == 1)].sum(), weights[above & (labels == 0)].sum()
        if s >= min_efficiency * total and b >= 1e-3 and s > 0:
            best = max(best, s / math.sqrt(s + b if formula == "s/sqrt(s+b)" else b))
    z = best_cut_significance(scores, labels, weights, formula, min_efficiency)[0]
    assert z == pytest.approx(best, rel=1e-12)


def test_background_rejection_by_hand() -> None:
    data = inputs([0.9, 0.8, 0.7, 0.6, 0.85, 0.5, 0.4, 0.3], [1, 1, 1, 1, 0, 0, 0, 0], [1.0] * 8)
    # Half the signal needs score >= 0.8; one background event of four passes: rejection 0.75.
    assert background_rejection(data.scores, data.labels, data.weights, 0.5) == pytest.approx(0.75)
    # All the signal: score >= 0.6, still only the 0.85 background event above: 0.75; a quarter:
    # score >= 0.9, no background left: 1.
    assert make_objective("background_rejection", {"signal_efficiency": 1.0}).evaluate(data).value == 0.75
    assert make_objective("background_rejection", {"signal_efficiency": 0.25}).evaluate(data).value == 1.0
    with pytest.raises(ValueError, match="signal_efficiency must be in"):
        make_objective("background_rejection", {"signal_efficiency": 1.5})


def profile_likelihood_q0(s: float, b: float, sigma: float) -> float:
    """q0 on Asimov data with the background measured in a control region: n ~ Pois(mu s + b'),
    m ~ Pois(tau b'), tau = b / sigma^2; b' profiled analytically under mu = 0."""
    tau = b / sigma**2
    n, m = s + b, tau * b
    b_hat = (n + m) / (1 + tau)  # maximises Pois(n | b') Pois(m | tau b')
    return 2 * (n * math.log(n / b_hat) - n + b_hat + m * math.log(m / (tau * b_hat)) - m + tau * b_hat)


@pytest.mark.parametrize(("s", "b", "rel"), [(5.0, 20.0, 0.1), (30.0, 100.0, 0.3), (2.0, 1.0, 0.5)])
def test_cowan_formula_equals_the_profile_likelihood(s: float, b: float, rel: float) -> None:
    z = asimov_significance_with_uncertainty(np.array([s]), np.array([b]), rel)
    assert z == pytest.approx(math.sqrt(profile_likelihood_q0(s, b, rel * b)), rel=1e-9)


def test_cowan_formula_limits_and_bins() -> None:
    s, b = np.array([3.0, 8.0]), np.array([10.0, 50.0])
    stat_only = math.sqrt(sum(2 * ((si + bi) * math.log(1 + si / bi) - si) for si, bi in zip(s, b, strict=True)))
    assert asimov_significance_with_uncertainty(s, b, 0.0) == pytest.approx(stat_only)
    assert asimov_significance_with_uncertainty(s, b, 1e-5) == pytest.approx(stat_only, rel=1e-6)
    assert asimov_significance_with_uncertainty(s, b, 0.2) < stat_only  # an uncertainty costs significance
    per_bin = [asimov_significance_with_uncertainty(s[i : i + 1], b[i : i + 1], 0.2) for i in range(2)]
    assert asimov_significance_with_uncertainty(s, b, 0.2) == pytest.approx(math.hypot(*per_bin))


def test_flat_signal_binning() -> None:
    from hepopt.stats.binning import flat_signal_edges

    assert flat_signal_edges(np.array([0.4, 0.1, 0.3, 0.2]), np.ones(4), 2).tolist() == [0.0, 0.25, 1.0]
    rng = np.random.default_rng(2)
    scores, weights = rng.beta(5, 2, 4000), rng.uniform(0.5, 1.5, 4000)
    edges = flat_signal_edges(scores, weights, 5)
    assert len(edges) == 6
    per_bin = np.histogram(scores, edges, weights=weights)[0]
    np.testing.assert_allclose(per_bin, weights.sum() / 5, atol=1.5)  # within one event's weight
    # The significance objective with it: the same as the closed form on those edges by hand.
    labels = np.r_[np.ones(4000, np.int8), np.zeros(4000, np.int8)]
    all_scores = np.r_[scores, rng.beta(2, 5, 4000)]
    all_weights = np.r_[weights * 0.01, np.ones(4000)]
    data = ObjectiveInputs(all_scores, labels, all_weights, np.zeros(8000, np.int16), ("all",))
    value = make_objective("asimov_significance", {"bins": 5, "binning": "flat_signal", "method": "closed_form"})
    s = np.histogram(scores, edges, weights=weights * 0.01)[0]
    b = np.histogram(all_scores[4000:], edges)[0]
    expected = math.sqrt(np.sum(2 * ((s + b) * np.log1p(s / b) - s)))
    assert value.evaluate(data).value == pytest.approx(expected, rel=1e-9)
    # Every binned objective takes the same binning: sigma_b on the same edges by hand, and the
    # profiled significance (no variations here, so a pyhf fit of the stat-only model).
    flat = {"bins": 5, "binning": "flat_signal"}
    sigma_b = make_objective("asimov_significance_sigma_b", {**flat, "relative_uncertainty": 0.1})
    assert sigma_b.evaluate(data).value == pytest.approx(asimov_significance_with_uncertainty(s, b, 0.1), rel=1e-9)
    by_dataset = ObjectiveInputs(all_scores, labels, all_weights, (1 - labels).astype(np.int16), ("sig", "bkg"))
    profiled = make_objective("robust_significance", {**flat, "mc_stat": False}).evaluate(by_dataset).value
    assert profiled == pytest.approx(expected, rel=1e-4)
    fixed = make_objective("robust_significance", {"bins": 5, "mc_stat": False}).evaluate(by_dataset).value
    assert fixed != pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("asimov_significance", {"binning": "flat"}, "binning must be 'fixed' or 'flat_signal'"),
        ("asimov_significance", {"binning": "flat_signal", "bins": [0, 0.5, 1]}, "with a number of bins"),
        ("s_over_sqrt_b", {"min_signal_efficiency": -0.1}, r"min_signal_efficiency must be in \[0, 1\], got -0.1"),
        ("asimov_significance_sigma_b", {"relative_uncertainty": -1}, "relative_uncertainty must be >= 0, got -1"),
        ("log_likelihood_ratio", {"test": "limit"}, "test must be 'discovery' or 'exclusion', got 'limit'"),
        ("robust_significance", {"binning": "equal"}, "binning must be 'fixed' or 'flat_signal'"),
    ],
)
def test_bad_objective_options_name_the_option(name: str, options: dict, message: str) -> None:
    from hepopt.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        make_objective(name, options)


@pytest.mark.parametrize("seed", range(3))
def test_log_likelihood_ratio_equals_pyhfs_test_statistics(seed: int) -> None:
    """q0 on s+b Asimov data and q_mu=1 on background-only data, from pyhf fits of the same model."""
    import pyhf

    from hepopt.stats.figures_of_merit import asimov_log_likelihood_ratio
    from hepopt.stats.pyhf_fit import numpy_scipy_backend
    from hepopt.stats.significance import stat_only_spec

    rng = np.random.default_rng(seed)
    s, b = rng.uniform(0.5, 30.0, 4), rng.uniform(2.0, 300.0, 4)
    with numpy_scipy_backend():
        model = pyhf.Model(stat_only_spec(s, b), poi_name="mu", validate=False)
        fit = (model.config.suggested_init(), model.config.suggested_bounds(), model.config.suggested_fixed())
        q0 = pyhf.infer.test_statistics.q0(0.0, [*(s + b), *model.config.auxdata], model, *fit)
        q1 = pyhf.infer.test_statistics.qmu(1.0, [*b, *model.config.auxdata], model, *fit)
    assert asimov_log_likelihood_ratio(s, b, "discovery") == pytest.approx(float(q0), rel=1e-4)
    assert asimov_log_likelihood_ratio(s, b, "exclusion") == pytest.approx(float(q1), rel=1e-4)


def test_log_likelihood_ratio_objective_by_hand() -> None:
    # Two bins of 0.5: signal (1, 3), background (4, 1); signal strength 2 doubles the signal.
    data = inputs([0.2, 0.7, 0.2, 0.7], [1, 1, 0, 0], [1.0, 3.0, 4.0, 1.0])
    s, b = np.array([2.0, 6.0]), np.array([4.0, 1.0])
    q1 = 2 * sum(si - bi * math.log(1 + si / bi) for si, bi in zip(s, b, strict=True))
    objective = make_objective("log_likelihood_ratio", {"bins": 2, "test": "exclusion", "signal_strength": 2})
    result = objective.evaluate(data)
    assert result.value == pytest.approx(q1)
    assert result.extras["significance"] == pytest.approx(math.sqrt(q1))
    q0 = 2 * sum((si + bi) * math.log(1 + si / bi) - si for si, bi in zip(s / 2, b, strict=True))
    assert make_objective("log_likelihood_ratio", {"bins": 2}).evaluate(data).value == pytest.approx(q0)


def test_weighted_sum_signs_terms_by_direction() -> None:
    rng = np.random.default_rng(5)
    labels = (rng.random(3000) < 0.3).astype(np.int8)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.15), 0, 1)
    data = ObjectiveInputs(scores, labels, rng.uniform(0.5, 2.0, 3000), np.zeros(3000, np.int16), ("all",))
    z = make_objective("asimov_significance", {"method": "closed_form", "bins": 5}).evaluate(data).value
    bce = make_objective("bce").evaluate(data).value
    auc = make_objective("roc_auc").evaluate(data).value
    terms = [
        {"name": "asimov_significance", "options": {"method": "closed_form", "bins": 5}},
        {"name": "bce", "weight": 3.0},
        {"name": "roc_auc", "weight": 0.5},
    ]
    combined = make_objective("weighted_sum", {"terms": terms})
    result = combined.evaluate(data)
    assert result.value == pytest.approx(z - 3.0 * bce + 0.5 * auc, rel=1e-12)
    assert result.extras == pytest.approx({"asimov_significance": z, "bce": bce, "roc_auc": auc})
    assert combined.direction == "maximize"
    assert combined.needs == frozenset()
    shift = make_objective("weighted_sum", {"terms": [{"name": "roc_auc"}, {"name": "output_shift"}]})
    assert shift.needs == {"dataset", "variations"}  # what its terms read


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ([], "terms: give at least one"),
        ([{"name": "roc_auc", "weight": -1}], r"terms\.0\.weight must be > 0"),
        ([{"name": "roc_auc"}, {"name": "auc"}], r"terms\.1\.name: unknown objective 'auc'"),
        ([{"name": "roc_auc", "wieght": 2}], r"terms\.0: expected a mapping with 'name'"),
        ([{"name": "asimov_significance", "options": {"bins": 0}}], r"terms\.0\.options: asimov_significance: bins"),
    ],
)
def test_weighted_sum_errors_name_the_term(terms: list, message: str) -> None:
    from hepopt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"objective\.options: weighted_sum: .*" + message):
        make_objective("weighted_sum", {"terms": terms})


def test_an_absolute_background_uncertainty() -> None:
    from hepopt.stats.figures_of_merit import asimov_significance_with_sigma_b

    s, b, sigma = np.array([4.0, 9.0]), np.array([40.0, 12.0]), 3.0
    by_hand = 0.0
    for s_i, b_i in zip(s, b, strict=True):  # Cowan et al. 2011, eq. (20), bin by bin
        v = sigma**2
        by_hand += 2 * (
            (s_i + b_i) * math.log((s_i + b_i) * (b_i + v) / (b_i**2 + (s_i + b_i) * v))
            - b_i**2 / v * math.log(1 + v * s_i / (b_i * (b_i + v)))
        )
    assert asimov_significance_with_sigma_b(s, b, sigma) == pytest.approx(math.sqrt(by_hand), rel=1e-12)
    # sigma_b = 10 % of b is the relative option; sigma_b = 0 is stat only.
    assert asimov_significance_with_sigma_b(s, b, 0.1 * b) == pytest.approx(
        asimov_significance_with_uncertainty(s, b, 0.1), rel=1e-12
    )
    assert asimov_significance_with_sigma_b(s, b, np.array([0.0, 3.0])) == pytest.approx(
        math.sqrt(2 * ((4 + 40) * math.log1p(4 / 40) - 4) + asimov_significance_with_sigma_b(s[1:], b[1:], 3.0) ** 2)
    )
    scores = np.array([0.95, 0.9, 0.2, 0.1])
    inputs = ObjectiveInputs(scores, np.array([1, 1, 0, 0]), np.array([2.0, 2.0, 20.0, 20.0]))
    absolute = make_objective("asimov_significance_sigma_b", {"bins": 2, "absolute_uncertainty": 3.0}).evaluate(inputs)
    # Two bins, the upper one without background: merged into one (s, b) = (4, 40).
    assert absolute.value == pytest.approx(
        asimov_significance_with_sigma_b(np.array([4.0]), np.array([40.0]), 3.0), rel=1e-12
    )
    from hepopt.errors import ConfigError

    with pytest.raises(ConfigError, match="not both"):
        make_objective("asimov_significance_sigma_b", {"relative_uncertainty": 0.1, "absolute_uncertainty": 3.0})


def test_a_binning_describes_itself() -> None:
    from hepopt.objectives.binning import Binning

    assert (
        Binning.from_options(10).describe() == "10 equal bins in [0, 1], merged from the top until each has b >= 0.001"
    )
    assert Binning.from_options(5, "flat_signal", 0.5).describe().startswith("5 bins of equal expected signal, ")
    assert Binning.from_options([0, 0.5, 0.9, 1]).describe().startswith("bin edges 0, 0.5, 0.9, 1,")
