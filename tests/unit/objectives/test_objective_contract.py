"""Every objective hepopt ships passes the contract suite it offers plugin authors."""

from __future__ import annotations

import pytest

from hepopt.objectives import make_objective
from hepopt.objectives.base import Objective
from hepopt.testing import ObjectiveContract

BUILTIN = {
    "asimov_significance": {"method": "closed_form"},
    "asimov_significance_flat": {"binning": "flat_signal", "method": "closed_form"},
    "bce": {},
    "roc_auc": {},
    "separation": {},
    "s_over_sqrt_s_plus_b": {"min_signal_efficiency": 0.25},
    "s_over_sqrt_b": {},
    "background_rejection": {"signal_efficiency": 0.5},
    "asimov_significance_sigma_b": {"relative_uncertainty": 0.1},
    "robust_significance": {},
    "log_likelihood_ratio": {},
    "log_likelihood_ratio_exclusion": {"test": "exclusion"},
    "weighted_sum": {"terms": [{"name": "roc_auc"}, {"name": "bce", "weight": 0.5}]},
}


@pytest.fixture(params=sorted(BUILTIN))
def builtin(request: pytest.FixtureRequest) -> Objective:
    name = request.param.removesuffix("_flat").removesuffix("_exclusion")
    return make_objective(name, BUILTIN[request.param])


class TestBuiltinObjectives(ObjectiveContract):
    @pytest.fixture(autouse=True)
    def _objective(self, builtin: Objective) -> None:
        self.objective = builtin

    def make_objective(self) -> Objective:
        return self.objective


class TestOutputShift(ObjectiveContract):
    """output_shift measures robustness, not separation: a stronger classifier need not shift less."""

    def make_objective(self) -> Objective:
        return make_objective("output_shift")

    def test_a_better_classifier_scores_better(self) -> None:
        pytest.skip("output_shift does not rank classifiers by separation")


def test_the_contract_catches_a_broken_objective() -> None:
    class ModifiesInputs(Objective):
        name = "modifies_inputs"

        def evaluate(self, inputs):  # type: ignore[no-untyped-def]
            from hepopt.objectives import ObjectiveResult

            inputs.scores[:] = 0.5
            return ObjectiveResult(1.0)

    class Contract(ObjectiveContract):
        def make_objective(self) -> Objective:
            return ModifiesInputs()

    with pytest.raises(AssertionError, match="scores"):
        Contract().test_does_not_modify_its_inputs()


def test_the_contract_catches_an_undeclared_input() -> None:
    class ReadsVariations(Objective):
        name = "reads_variations"  # needs nothing, yet reads the varied events

        def evaluate(self, inputs):  # type: ignore[no-untyped-def]
            from hepopt.objectives import ObjectiveResult

            return ObjectiveResult(float(len(inputs.variations)))

    class Contract(ObjectiveContract):
        def make_objective(self) -> Objective:
            return ReadsVariations()

    with pytest.raises(AssertionError, match="inputs it does not declare"):
        Contract().test_reads_only_the_inputs_it_declares()
