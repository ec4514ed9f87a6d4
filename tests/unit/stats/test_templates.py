"""Smoothing, symmetrisation and pruning of systematic templates, checked by hand, and applied
alike in the profiled fit and in the workspace it exports."""

from __future__ import annotations

import numpy as np
import pytest

from hepopt.objectives.base import ObjectiveInputs, VariedInputs
from hepopt.objectives.robust import RobustSignificance
from hepopt.stats.histosys import nuisance_templates
from hepopt.stats.pyhf_fit import asimov_discovery_significance
from hepopt.stats.templates import TemplateTreatment, smooth_template

NOMINAL = np.array([100.0, 50.0, 20.0, 10.0, 5.0])


def test_two_sided_and_one_sided_symmetrisation_by_hand() -> None:
    up = np.array([110.0, 52.0, 21.0, 10.0, 6.0])
    down = np.array([96.0, 50.0, 18.0, 11.0, 5.0])
    hi, lo = TemplateTreatment(symmetrize="two_sided").apply(NOMINAL, up, down)  # type: ignore[misc]
    np.testing.assert_allclose(hi, NOMINAL + (up - down) / 2)
    np.testing.assert_allclose(lo, NOMINAL - (up - down) / 2)
    hi, lo = TemplateTreatment(symmetrize="one_sided").apply(NOMINAL, up, down)  # type: ignore[misc]
    np.testing.assert_allclose((hi, lo), (up, 2 * NOMINAL - up))
    hi, lo = TemplateTreatment().apply(NOMINAL, up, None)  # type: ignore[misc]
    np.testing.assert_allclose(lo, 2 * NOMINAL - up)  # a lone variation is always mirrored


def test_smoothing_is_median_of_three_then_121_on_the_ratio() -> None:
    ratio = np.array([1.0, 1.1, 1.5, 1.2, 1.3])
    varied = NOMINAL * ratio
    median = np.array([1.0, 1.1, 1.2, 1.3, 1.3])  # ends kept
    hanning = np.r_[median[0], 0.25 * median[:-2] + 0.5 * median[1:-1] + 0.25 * median[2:], median[-1]]
    np.testing.assert_allclose(smooth_template(NOMINAL, varied, 1), NOMINAL * hanning)
    linear = NOMINAL * np.linspace(0.9, 1.3, 5)  # a straight ratio is left as it is
    np.testing.assert_allclose(smooth_template(NOMINAL, linear, 3), linear)


def test_smoothing_brings_a_noisy_template_closer_to_its_truth() -> None:
    """A smooth true ratio, templates from 200 events per bin on average: one pass reduces the
    squared error of the template over 50 samples."""
    rng = np.random.default_rng(0)
    nominal = np.full(12, 200.0)
    truth = nominal * np.linspace(0.9, 1.15, 12)
    raw, smoothed = [], []
    for _ in range(50):
        noisy = rng.poisson(truth).astype(float)
        raw.append(np.sum((noisy - truth) ** 2))
        smoothed.append(np.sum((smooth_template(nominal, noisy, 1) - truth) ** 2))
    assert np.mean(smoothed) < 0.6 * np.mean(raw)


def test_pruning_drops_a_small_effect_from_one_sample_only() -> None:
    nominal = {"sig": np.array([5.0, 10.0]), "bkg": np.array([100.0, 20.0])}
    shifted = {"sig": np.array([5.01, 10.02]), "bkg": np.array([110.0, 19.0])}  # 0.2 % and 10 %

    def varied(variation: str, sample: str) -> np.ndarray:
        sign = 1 if variation == "jes_up" else -1
        return nominal[sample] + sign * (shifted[sample] - nominal[sample])

    kept = nuisance_templates(nominal, ["jes_up", "jes_down"], varied, TemplateTreatment(prune=0.005))
    assert set(kept["jes"]) == {"bkg"}
    assert set(nuisance_templates(nominal, ["jes_up", "jes_down"], varied)["jes"]) == {"sig", "bkg"}
    assert nuisance_templates(nominal, ["jes_up", "jes_down"], varied, TemplateTreatment(prune=0.2)) == {}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"symmetrize": "both"}, "symmetrize must be one of"),
        ({"smoothing": -1}, "smoothing"),
        ({"prune": 1.5}, "prune"),
    ],
)
def test_bad_treatments_name_the_option(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RobustSignificance(**options)


def test_the_objective_fits_the_treated_templates_and_its_workspace_holds_them() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    labels = (rng.random(n) < 0.3).astype(np.int8)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.15), 0, 1)
    weights = np.where(labels == 1, 0.05, 0.5)
    background = labels == 0
    varied = {
        name: VariedInputs(
            np.clip(scores[background] + shift + rng.normal(0, 0.02, background.sum()), 0, 1),
            labels[background], weights[background], np.ones(background.sum(), np.int16), (1,),
        )
        for name, shift in (("jes_up", 0.03), ("jes_down", -0.02))
    }  # fmt: skip
    inputs = ObjectiveInputs(scores, labels, weights, (1 - labels).astype(np.int16), ("sig", "bkg"), varied)
    options = {"bins": 8, "symmetrize": "two_sided", "smoothing": 1, "mc_stat": False}
    objective = RobustSignificance(**options)
    workspace = objective.workspace(inputs)
    # By hand: the same merged histograms, treated, in the model the objective fits.
    spec, merged, _, _ = RobustSignificance(bins=8, mc_stat=False)._spec(inputs)
    by_name = {s["name"]: s for s in spec["channels"][0]["samples"]}
    raw = next(m for m in by_name["bkg"]["modifiers"] if m["type"] == "histosys")["data"]
    hi, lo = TemplateTreatment("two_sided", 1).apply(merged["bkg"], np.array(raw["hi_data"]), np.array(raw["lo_data"]))  # type: ignore[misc]
    samples = {s["name"]: s for s in workspace["channels"][0]["samples"]}
    exported = next(m for m in samples["bkg"]["modifiers"] if m["type"] == "histosys")["data"]
    np.testing.assert_allclose(exported["hi_data"], hi)
    np.testing.assert_allclose(exported["lo_data"], lo)
    treated_spec = {"channels": workspace["channels"]}
    assert objective.evaluate(inputs).value == pytest.approx(asimov_discovery_significance(treated_spec), rel=1e-9)
    assert objective.evaluate(inputs).value != pytest.approx(
        RobustSignificance(bins=8, mc_stat=False).evaluate(inputs).value, rel=1e-4
    )
