"""The MC statistical uncertainty in the profiled fit (pyhf staterror, Barlow-Beeston lite),
checked against the profile likelihood written out by hand: per bin a Poisson count with mean
gamma (mu s + b) and a Gaussian constraint on gamma of width delta = sqrt(sigma_s^2 + sigma_b^2)
/ (s + b). On the Asimov data (n = s + b) the free fit sits at mu = 1, gamma = 1; with mu = 0 each
gamma solves b - n / gamma + (gamma - 1) / delta^2 = 0, a quadratic."""

from __future__ import annotations

import numpy as np
import pyhf
import pytest

from hepopt.objectives import ObjectiveInputs, make_objective
from hepopt.stats.histosys import histosys_spec
from hepopt.stats.pyhf_fit import asimov_discovery_significance, asimov_workspace, numpy_scipy_backend


def z_by_hand(s: np.ndarray, b: np.ndarray, sigma_s: np.ndarray, sigma_b: np.ndarray) -> float:
    n = s + b
    delta2 = (sigma_s**2 + sigma_b**2) / n**2
    linear = b * delta2 - 1
    gamma = (-linear + np.sqrt(linear**2 + 4 * n * delta2)) / 2  # the conditional fit at mu = 0
    conditional = gamma * b - n * np.log(gamma * b) + (gamma - 1) ** 2 / (2 * delta2)
    free = n - n * np.log(n)
    return float(np.sqrt(2 * np.sum(conditional - free)))


@pytest.mark.parametrize("seed", range(4))
def test_the_staterror_fit_is_the_profile_likelihood_by_hand(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s, b = rng.uniform(1, 20, 4), rng.uniform(5, 200, 4)
    sigma_s, sigma_b = s * rng.uniform(0.02, 0.2, 4), b * rng.uniform(0.02, 0.3, 4)
    spec = histosys_spec({"sig": s, "bkg": b}, {"sig"}, {}, mc_stat={"sig": sigma_s, "bkg": sigma_b})
    z = asimov_discovery_significance(spec)
    assert z == pytest.approx(z_by_hand(s, b, sigma_s, sigma_b), rel=1e-4)
    without = asimov_discovery_significance(histosys_spec({"sig": s, "bkg": b}, {"sig"}, {}))
    assert z < without  # the MC uncertainty costs significance


def test_the_workspace_refits_to_the_same_significance() -> None:
    s, b = np.array([3.0, 8.0, 12.0]), np.array([90.0, 30.0, 6.0])
    spec = histosys_spec({"sig": s, "bkg": b}, {"sig"}, {}, mc_stat={"sig": 0.1 * s, "bkg": 0.15 * b})
    workspace = pyhf.Workspace(asimov_workspace(spec, "test"))  # validates against pyhf's schema
    model = workspace.model()
    data = workspace.data(model)
    fit = (model.config.suggested_init(), model.config.suggested_bounds(), model.config.suggested_fixed())
    with numpy_scipy_backend():
        q0 = pyhf.infer.test_statistics.q0(0.0, data, model, *fit)
    assert float(np.sqrt(q0)) == pytest.approx(asimov_discovery_significance(spec), rel=1e-6)


def test_robust_significance_takes_the_sum_of_squared_weights() -> None:
    rng = np.random.default_rng(5)
    n_sig, n_bkg = 400, 4000
    scores = np.r_[rng.beta(5, 2, n_sig), rng.beta(2, 5, n_bkg)]
    labels = np.r_[np.ones(n_sig), np.zeros(n_bkg)].astype(np.int8)
    weights = np.r_[rng.uniform(0.01, 0.05, n_sig), rng.uniform(0.5, 1.5, n_bkg)]
    dataset = (1 - labels).astype(np.int16)
    inputs = ObjectiveInputs(scores, labels, weights, dataset, ("sig", "bkg"))
    edges = np.linspace(0, 1, 6)
    s, b = (np.histogram(scores[labels == k], edges, weights=weights[labels == k])[0] for k in (1, 0))
    sigma_s, sigma_b = (
        np.sqrt(np.histogram(scores[labels == k], edges, weights=weights[labels == k] ** 2)[0]) for k in (1, 0)
    )
    z = make_objective("robust_significance", {"bins": 5}).evaluate(inputs).value
    assert z == pytest.approx(z_by_hand(s, b, sigma_s, sigma_b), rel=1e-4)
    assert make_objective("robust_significance", {"bins": 5, "mc_stat": False}).evaluate(inputs).value > z
    with pytest.raises(ValueError, match="mc_stat must be true or false"):
        make_objective("robust_significance", {"mc_stat": "yes"})
