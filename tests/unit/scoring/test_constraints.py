"""Constraints: violations, feasibility from the recorded values, best and Pareto choice."""

from __future__ import annotations

import itertools
import math

import numpy as np
import optuna
import pytest

from hepopt.config import config_from_dict
from hepopt.errors import ConfigError
from hepopt.objectives import make_objective
from hepopt.search.constraints import (
    Constraint,
    constraints_from_config,
    is_feasible,
    pareto_front,
    ranked_trials,
    report_constraints,
)

BASE = {
    "luminosity": 1.0,
    "datasets": {"sig": {"files": "s.root", "role": "signal"}, "bkg": {"files": "b.root", "role": "background"}},
    "features": ["MET_pt"],
}
AUC = Constraint(make_objective("roc_auc"), low=0.8, key="constraint: roc_auc")


def trial(number: int, values: list[float], **attrs: float) -> optuna.trial.FrozenTrial:
    made = optuna.trial.create_trial(values=values, user_attrs=attrs)
    made.number = number
    return made


def test_violation_and_label() -> None:
    assert AUC.label == "roc_auc >= 0.8"
    assert AUC.violation(0.75) == pytest.approx(0.05)
    assert AUC.violation(0.9) == pytest.approx(-0.1)
    band = Constraint(make_objective("output_shift"), low=0.01, high=0.02, key="constraint: output_shift")
    assert band.label == "0.01 <= output_shift <= 0.02"
    assert [band.violation(v) for v in (0.005, 0.015, 0.03)] == pytest.approx([0.005, -0.005, 0.01])
    assert AUC.violation(math.nan) == math.inf


def test_feasibility_is_judged_with_the_current_bounds() -> None:
    trials = [trial(0, [3.0], **{"constraint: roc_auc": 0.7}), trial(1, [2.0], **{"constraint: roc_auc": 0.85})]
    assert [t.number for t in ranked_trials(trials, "maximize")] == [0, 1]  # no constraints
    assert [t.number for t in ranked_trials(trials, "maximize", [AUC])] == [1, 0]
    looser = Constraint(AUC.objective, low=0.6, key=AUC.key)
    assert [t.number for t in ranked_trials(trials, "maximize", [looser])] == [0, 1]
    assert not is_feasible(trial(2, [9.0]), [AUC])  # never recorded: counts as breaking it


def test_violations_are_reported_to_optuna() -> None:
    study = optuna.create_study(direction="maximize")
    for attrs in ({"constraint: roc_auc": 0.7}, {"constraint: roc_auc": math.nan}, {}):
        live = study.ask()
        report_constraints(live, [AUC], attrs)
        study.tell(live, 1.0)
    reported = [t.constraints for t in study.trials]
    assert reported[0] == pytest.approx({"roc_auc": 0.1})
    assert reported[1:] == [{"roc_auc": 1.0}, {}]  # NaN: one unit; never scored (pruned): none


def test_pareto_front_equals_a_brute_force_one() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 2)).round(1)  # ties included
    auc = rng.uniform(0.7, 0.9, 40)
    trials = [trial(i, list(v), **{"constraint: roc_auc": a}) for i, (v, a) in enumerate(zip(values, auc, strict=True))]
    directions = ["maximize", "minimize"]
    feasible = [t for t in trials if t.user_attrs["constraint: roc_auc"] >= 0.8]

    def dominates(a: optuna.trial.FrozenTrial, b: optuna.trial.FrozenTrial) -> bool:
        pairs = [(a.values[0], b.values[0]), (-a.values[1], -b.values[1])]  # larger is better
        return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)

    expected = [t.number for t in feasible if not any(dominates(o, t) for o in feasible)]
    assert [t.number for t in pareto_front(trials, directions, [AUC])] == expected
    everyone = [t.number for t in trials if not any(dominates(o, t) for o in trials)]
    assert [t.number for t in pareto_front(trials, directions)] == everyone
    assert all(not dominates(a, b) for a, b in itertools.permutations(pareto_front(trials, directions), 2))


def test_constraints_from_the_config() -> None:
    raw = {
        **BASE,
        "constraints": [
            {"name": "roc_auc", "min": 0.9},
            {"name": "background_rejection", "max": 1.0, "options": {"signal_efficiency": 0.3}},
            {"name": "background_rejection", "min": 0.5},
        ],
    }
    found = constraints_from_config(config_from_dict(raw, "cfg.yaml"))
    assert [c.key for c in found] == [
        "constraint: roc_auc",
        "constraint: background_rejection.1",
        "constraint: background_rejection.2",
    ]
    assert found[1].objective.signal_efficiency == 0.3


@pytest.mark.parametrize(
    ("constraints", "expected"),
    [
        ([{"name": "roc_auc"}], "cfg.yaml: constraints.0: give 'min', 'max' or both"),
        ([{"name": "roc_auc", "min": 0.9, "max": 0.8}], "min (0.9) is above max (0.8)"),
        ([{"name": "auc", "min": 0.9}], "constraints.0.name: unknown objective 'auc'"),
        ([{"name": "output_shift", "max": 0.1}], "constraints.0: 'output_shift' needs systematic variations"),
    ],
)
def test_constraint_errors_name_the_key(constraints: list, expected: str) -> None:
    from hepopt.stages.plan import make_plan

    with pytest.raises(ConfigError) as info:
        make_plan(config_from_dict({**BASE, "constraints": constraints}, "cfg.yaml"))
    assert expected in str(info.value)
