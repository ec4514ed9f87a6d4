"""The bootstrap uncertainty of a reported value means what it says: on a toy whose large-sample
answer is known (Gaussian signal and background, the Bayes-optimal classifier fixed, the Asimov
significance of its binned output at a fixed luminosity), value ± error from one test sample covers
the large-sample value in about 68 % of independent samples, and the error matches the spread of the
values over those samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepopt.objectives import ObjectiveInputs, make_objective
from hepopt.scoring.uncertainty import bootstrap_errors, resampled
from hepopt.stats.bootstrap import poisson_counts

SIGNAL, BACKGROUND = 50.0, 5000.0  # expected events at the luminosity
OBJECTIVE = make_objective("asimov_significance", {"bins": 10, "method": "closed_form"})


def sample(n: int, seed: int) -> ObjectiveInputs:
    """n simulated events (a tenth signal), weighted to the expected yields; the score is the
    Bayes-optimal P(signal | x) for x ~ N(1, 1) against N(-1, 1), mapped into [0, 1]."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.1).astype(np.int8)
    x = rng.normal(np.where(labels == 1, 1.0, -1.0), 1.0)
    scores = 1 / (1 + np.exp(-2 * x))
    weights = np.where(labels == 1, SIGNAL / labels.sum(), BACKGROUND / (n - labels.sum()))
    return ObjectiveInputs(scores, labels, weights, labels.astype(np.int16), ("bkg", "sig"), event_id=np.arange(n))


def z(inputs: ObjectiveInputs) -> dict[str, float]:
    return {"z": OBJECTIVE.evaluate(inputs).value}


def test_value_plus_minus_error_covers_the_large_sample_value() -> None:
    truth = z(sample(4_000_000, seed=999))["z"]
    values, errors = [], []
    for seed in range(40):
        inputs = sample(20_000, seed)
        values.append(z(inputs)["z"])
        errors.append(bootstrap_errors(inputs, z, replicas=100, seed=seed)["z"])
    values, errors = np.array(values), np.array(errors)
    covered = np.mean(np.abs(values - truth) < errors)
    assert 0.5 <= covered <= 0.85, (covered, truth)  # 68 %, within what 40 samples allow (0.75 here)
    assert np.std(values, ddof=1) / np.mean(errors) == pytest.approx(1.0, abs=0.25)  # 0.89 here


def test_an_event_and_its_varied_copy_are_resampled_together() -> None:
    ids = np.arange(1000)
    nominal = poisson_counts(np.zeros(1000), ids, seed=3, replica=5)
    assert np.array_equal(nominal, poisson_counts(np.zeros(1000), ids, seed=3, replica=5))  # fixed by the seed
    assert not np.array_equal(nominal, poisson_counts(np.zeros(1000), ids, seed=3, replica=6))
    assert nominal.mean() == pytest.approx(1.0, abs=0.1)
    inputs = sample(1000, seed=1)
    from hepopt.objectives.base import VariedInputs

    varied = VariedInputs(inputs.scores, inputs.labels, inputs.weights * 2, inputs.dataset, (0, 1), inputs.event_id)
    replica = resampled(ObjectiveInputs(**{**inputs.__dict__, "variations": {"up": varied}}), seed=3, replica=5)
    np.testing.assert_allclose(replica.variations["up"].weights, 2 * replica.weights)


def test_no_replicas_no_error() -> None:
    assert bootstrap_errors(sample(100, 0), z, replicas=0, seed=0) == {}
    assert math.isnan(bootstrap_errors(sample(100, 0), lambda _i: {"z": math.nan}, replicas=5, seed=0)["z"])


@pytest.mark.parametrize(
    ("value", "error", "shown"),
    [
        (3.71234, 0.0912, "3.712 ± 0.091"),
        (3.71234, 1.25, "3.7 ± 1.2"),
        (0.97781, 0.0049, "0.9778 ± 0.0049"),
        (2.5, math.nan, "2.5"),
    ],
)
def test_a_value_is_shown_with_its_error_to_two_digits(value: float, error: float, shown: str) -> None:
    from hepopt.results.summary import value_with_error

    assert value_with_error(value, error) == shown
