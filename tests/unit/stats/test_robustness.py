from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.spatial.distance import jensenshannon

from hepopt.objectives import ObjectiveInputs, VariedInputs, make_objective
from hepopt.stats.histosys import group_variations, histosys_spec
from hepopt.stats.pyhf_fit import asimov_discovery_significance
from hepopt.stats.robustness import binned_ks, jensen_shannon
from hepopt.stats.significance import asimov_significance_closed_form


@pytest.mark.parametrize("seed", range(3))
def test_jsd_is_scipys_distance_squared_in_bits(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, q = rng.uniform(0, 5, 12), rng.uniform(0, 5, 12)
    assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, rel=1e-10)
    assert jensen_shannon(p, p) == pytest.approx(0.0, abs=1e-15)
    assert jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(1.0)


def test_binned_ks_by_hand() -> None:
    p, q = np.array([1.0, 1.0, 2.0]), np.array([2.0, 1.0, 1.0])
    # CDFs: p = .25 .5 1, q = .5 .75 1
    assert binned_ks(p, q) == pytest.approx(0.25)


def test_group_variations_pairs_up_and_down() -> None:
    groups = group_variations(["jes_up", "jes_down", "pdfUp", "pdfDown", "alt_generator"])
    assert groups == {
        "jes": ("jes_up", "jes_down"),
        "pdf": ("pdfUp", "pdfDown"),
        "alt_generator": ("alt_generator", None),
    }


def profile_by_hand(s: float, b: float, sigma: float) -> float:
    """sqrt(q0) for one bin, b(alpha) = b + alpha * sigma, alpha ~ N(0, 1), Asimov n = s + b."""
    n = s + b

    def nll(alpha: float, mu: float) -> float:
        nu = mu * s + b + alpha * sigma
        return nu - n * np.log(nu) + 0.5 * alpha**2

    free = nll(0.0, 1.0)  # the Asimov data sit at the best fit: mu = 1, alpha = 0
    lo = max(-5.0, -b / sigma + 1e-9)
    background_only = minimize_scalar(
        lambda a: nll(a, 0.0), bounds=(lo, 5.0), method="bounded", options={"xatol": 1e-10}
    )
    return float(np.sqrt(2 * (background_only.fun - free)))


@pytest.mark.parametrize(("s", "b", "sigma"), [(10.0, 100.0, 10.0), (5.0, 20.0, 2.0), (30.0, 400.0, 60.0)])
def test_histosys_significance_matches_a_hand_profile_fit(s: float, b: float, sigma: float) -> None:
    spec = histosys_spec(
        {"sig": np.array([s]), "bkg": np.array([b])},
        {"sig"},
        {"norm": {"bkg": (np.array([b + sigma]), np.array([b - sigma]))}},
    )
    assert asimov_discovery_significance(spec) == pytest.approx(profile_by_hand(s, b, sigma), rel=1e-3)
    assert profile_by_hand(s, b, sigma) < asimov_significance_closed_form(np.array([s]), np.array([b]))


def test_without_variations_profiled_equals_stat_only() -> None:
    s, b = np.array([3.0, 8.0, 20.0]), np.array([300.0, 80.0, 10.0])
    spec = histosys_spec({"sig": s, "bkg": b}, {"sig"}, {})
    assert asimov_discovery_significance(spec) == pytest.approx(asimov_significance_closed_form(s, b), rel=1e-4)


def inputs_with(shift: float, n: int = 6000, seed: int = 0) -> ObjectiveInputs:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(np.int8)
    scores = np.clip(rng.normal(0.3 + 0.4 * labels, 0.12), 0, 1)
    weights = np.where(labels == 1, 0.05, 2.0)
    dataset = labels.astype(np.int16) ^ 1  # 0 signal, 1 background
    varied = {
        name: VariedInputs(np.clip(scores + sign * shift * (labels == 0), 0, 1), labels, weights, dataset, (0, 1))
        for name, sign in (("jes_up", 1), ("jes_down", -1))
    }
    return ObjectiveInputs(scores, labels, weights, dataset, ("sig", "bkg"), varied)


def test_robust_significance_is_bounded_by_stat_only_and_falls_with_the_shift() -> None:
    objective = make_objective("robust_significance", {"bins": 10, "mc_stat": False})  # the systematic alone
    stat = make_objective("asimov_significance", {"bins": 10, "method": "closed_form"})
    unshifted = inputs_with(0.0)
    assert objective.evaluate(unshifted).value == pytest.approx(stat.evaluate(unshifted).value, rel=1e-4)
    values = [objective.evaluate(inputs_with(shift)).value for shift in (0.0, 0.01, 0.05)]
    assert values[0] > values[1] > values[2]
    result = objective.evaluate(inputs_with(0.05))
    assert result.extras["stat_only_significance"] == pytest.approx(stat.evaluate(unshifted).value, rel=1e-6)
    assert result.extras["nuisance_parameters"] == 1.0


def test_output_shift_objective() -> None:
    objective = make_objective("output_shift", {"bins": 20})
    assert objective.evaluate(inputs_with(0.0)).value == pytest.approx(0.0, abs=1e-12)
    shifted = objective.evaluate(inputs_with(0.05))
    assert shifted.extras["jsd/jes_up/signal"] == pytest.approx(0.0, abs=1e-12)  # only background moves
    assert shifted.extras["jsd/jes_up/background"] > 0.01
    assert shifted.value == pytest.approx(
        np.mean([shifted.extras[f"jsd/jes_{d}/{c}"] for d in ("up", "down") for c in ("signal", "background")])
    )
