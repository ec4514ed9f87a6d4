"""The plugin checked with hepopt's contract suite, and its number against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hepopt_shift_penalty import PenalisedSignificance

from hepopt.objectives import ObjectiveInputs, VariedInputs, make_objective
from hepopt.testing import ObjectiveContract


class TestContract(ObjectiveContract):
    def make_objective(self) -> PenalisedSignificance:
        return PenalisedSignificance(penalty=2.0, bins=5)


def test_found_by_name_through_the_entry_point() -> None:
    objective = make_objective("penalised_significance", {"penalty": 0.5})
    assert isinstance(objective, PenalisedSignificance)
    assert objective.penalty == 0.5


def test_value_by_hand() -> None:
    # Two bins of 0.5. Nominal: signal (1 | 3), background (4 | 1). The variation moves one unit
    # of background weight from the high bin to the low one: background shapes (0.8, 0.2) vs
    # (1.0, 0.0), distance 0.2; the signal is unaffected (dataset 0 only is varied).
    scores = np.array([0.2, 0.7, 0.2, 0.7])
    labels = np.array([1, 1, 0, 0])
    weights = np.array([1.0, 3.0, 4.0, 1.0])
    dataset = np.array([1, 1, 0, 0], dtype=np.int16)
    varied = VariedInputs(np.array([0.2, 0.2]), np.array([0, 0]), np.array([4.0, 1.0]), np.array([0, 0]), (0,))
    inputs = ObjectiveInputs(scores, labels, weights, dataset, ("bkg", "sig"), {"jes_up": varied})
    z = math.sqrt(sum(2 * ((s + b) * math.log(1 + s / b) - s) for s, b in ((1, 4), (3, 1))))
    result = PenalisedSignificance(penalty=2.0, bins=2).evaluate(inputs)
    assert result.extras["shift"] == pytest.approx(0.2)
    assert result.value == pytest.approx(z * (1 - 2.0 * 0.2))
