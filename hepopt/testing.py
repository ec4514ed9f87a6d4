"""A contract test suite for objective plugins: subclass it in your package's tests.

    # tests/test_my_objective.py
    from hepopt.testing import ObjectiveContract
    from my_team.objective import SignalPurity

    class TestSignalPurity(ObjectiveContract):
        def make_objective(self):
            return SignalPurity(cut=0.8)

pytest then checks what hepopt relies on: a finite number on realistic inputs, a valid
direction, better classifiers scoring better, picklability (objectives travel to Ray and coffea
workers), inputs left untouched, the same value every time, and reading no input it does not
declare in ``needs`` (hepopt leaves undeclared inputs out, e.g. the varied events).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle

import numpy as np

from hepopt.objectives.base import INPUTS, Objective, ObjectiveInputs, VariedInputs


def example_inputs(separation: float = 1.5, seed: int = 0, n: int = 4000) -> ObjectiveInputs:
    """A signal and a background dataset (weighted, a few negative weights), a classifier output
    that separates them by ``separation`` (in units of the output's spread), and ``up``/``down``
    variations that shift the output a little, as a jet-energy scale does."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(np.int8)
    logits = rng.normal(np.where(labels == 1, separation / 2, -separation / 2), 1.0)
    weights = np.where(labels == 1, 0.02, 1.0) * rng.uniform(0.5, 1.5, n)
    weights[rng.random(n) < 0.02] *= -1  # NLO-style negative weights
    dataset = labels.astype(np.int16)  # dataset 1 is the signal
    variations = {
        name: VariedInputs(1 / (1 + np.exp(-(logits + shift))), labels.copy(), weights.copy(), dataset.copy(), (0, 1))
        for name, shift in (("syst_up", 0.05), ("syst_down", -0.05))
    }
    return ObjectiveInputs(1 / (1 + np.exp(-logits)), labels, weights, dataset, ("background", "signal"), variations)


class ObjectiveContract:
    """Tests every objective must pass. Override :meth:`make_objective`; override
    :meth:`inputs` if yours needs other inputs."""

    def make_objective(self) -> Objective:
        raise NotImplementedError

    def inputs(self, separation: float = 1.5, seed: int = 0) -> ObjectiveInputs:
        return example_inputs(separation, seed)

    def test_value_is_a_finite_number(self) -> None:
        result = self.make_objective().evaluate(self.inputs())
        assert isinstance(result.value, float), f"value must be a float, got {type(result.value).__name__}"
        assert math.isfinite(result.value), f"value must be finite, got {result.value}"
        assert all(isinstance(k, str) for k in result.extras), "extras must be keyed by strings"

    def test_has_a_name_and_a_direction(self) -> None:
        objective = self.make_objective()
        assert isinstance(objective.name, str) and objective.name, "set a class attribute 'name'"  # noqa: PT018
        assert objective.direction in ("maximize", "minimize"), f"bad direction {objective.direction!r}"

    def test_a_better_classifier_scores_better(self) -> None:
        objective = self.make_objective()
        weak = objective.evaluate(self.inputs(separation=0.5)).value
        strong = objective.evaluate(self.inputs(separation=3.0)).value
        assert objective.is_better(strong, weak), f"{objective.direction}: strong {strong} vs weak {weak}"

    def test_is_picklable(self) -> None:
        objective = self.make_objective()
        copied = pickle.loads(pickle.dumps(objective))  # Ray and coffea ship objectives to workers
        data = self.inputs()
        assert copied.evaluate(data).value == objective.evaluate(data).value

    def test_does_not_modify_its_inputs(self) -> None:
        data = self.inputs()
        before = copy.deepcopy(data)
        self.make_objective().evaluate(data)
        for field in ("scores", "labels", "weights", "dataset"):
            np.testing.assert_array_equal(getattr(data, field), getattr(before, field), err_msg=field)
        for name, varied in data.variations.items():
            np.testing.assert_array_equal(varied.scores, before.variations[name].scores, err_msg=name)

    def test_is_deterministic(self) -> None:
        data = self.inputs()
        values = {self.make_objective().evaluate(data).value for _ in range(3)}
        assert len(values) == 1, f"the same inputs gave {sorted(values)}"

    def test_reads_only_the_inputs_it_declares(self) -> None:
        objective = self.make_objective()
        assert objective.needs <= INPUTS, f"needs must be a subset of {sorted(INPUTS)}, got {objective.needs!r}"
        data = self.inputs()
        stripped = data
        if "variations" not in objective.needs:
            stripped = dataclasses.replace(stripped, variations={})
        if "dataset" not in objective.needs:
            stripped = dataclasses.replace(stripped, dataset=np.zeros(0, dtype=np.int16), dataset_names=())
        value = objective.evaluate(stripped).value  # fails if it reads what it did not declare
        assert value == objective.evaluate(data).value, "the value changes with inputs it does not declare"
