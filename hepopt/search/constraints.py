"""Constraints in the search (:class:`hepopt.scoring.constraints.Constraint`: an objective within
bounds, e.g. ``roc_auc >= 0.9``).

A trial records each constraint's value and its violation (Optuna's convention: > 0 violated,
<= 0 satisfied), and reports the violations to Optuna (``Trial.set_constraint``), whose samplers
steer away from violating regions (TPE, GP, NSGA-II, CMA-ES); for every sampler the best trial and the Pareto front are chosen among the
trials that satisfy all constraints. Feasibility is decided from the recorded values and the
config's current bounds, so a resumed study with changed bounds judges its old trials anew (and a
trial that never recorded a constraint's value counts as breaking it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hepopt.scoring.constraints import Constraint, constraints_from_config

if TYPE_CHECKING:
    import optuna

__all__ = [
    "Constraint",
    "constraint_attrs",
    "constraints_from_config",
    "is_feasible",
    "pareto_front",
    "ranked_trials",
    "report_constraints",
]

FEASIBLE = "feasible"  # recorded for the trials table; decisions recompute it


def constraint_attrs(constraints: Sequence[Constraint], values: Sequence[float]) -> dict[str, object]:
    """The user attributes a trial records: each constraint's value, and whether it satisfied all."""
    attrs: dict[str, object] = {c.key: v for c, v in zip(constraints, values, strict=True)}
    attrs[FEASIBLE] = all(c.violation(v) <= 0 for c, v in zip(constraints, values, strict=True))
    return attrs


def report_constraints(trial: optuna.Trial, constraints: Sequence[Constraint], attrs: Mapping[str, Any]) -> None:
    """Tell Optuna the violations of the values in a trial's ``attrs`` (a pruned trial has none)."""
    for constraint in constraints:
        if constraint.key in attrs:
            violation = constraint.violation(attrs[constraint.key])
            # The samplers fit these numbers: an objective that gave NaN violates by one unit.
            trial.set_constraint(
                constraint.key.removeprefix("constraint: "), violation if math.isfinite(violation) else 1.0
            )


def is_feasible(trial: optuna.trial.FrozenTrial, constraints: Sequence[Constraint]) -> bool:
    """Whether a trial's recorded values satisfy every constraint (True when there are none)."""
    return all(c.violation(trial.user_attrs.get(c.key, math.nan)) <= 0 for c in constraints)


def ranked_trials(
    trials: Sequence[optuna.trial.FrozenTrial], direction: str, constraints: Sequence[Constraint] = ()
) -> list[optuna.trial.FrozenTrial]:
    """Completed trials best first by the first objective, those breaking a constraint last."""
    sign = -1.0 if direction == "maximize" else 1.0
    return sorted(trials, key=lambda t: (not is_feasible(t, constraints), sign * t.values[0], t.number))


def pareto_front(
    trials: Sequence[optuna.trial.FrozenTrial], directions: Sequence[str], constraints: Sequence[Constraint] = ()
) -> list[optuna.trial.FrozenTrial]:
    """The trials no other one dominates, among the feasible ones (all, when none is feasible)."""
    feasible = [t for t in trials if is_feasible(t, constraints)] or list(trials)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    values = np.array([t.values for t in feasible], dtype=np.float64) * signs  # smaller is better
    no_worse = (values[:, None, :] <= values[None, :, :]).all(axis=2)
    better = (values[:, None, :] < values[None, :, :]).any(axis=2)
    dominated = (no_worse & better).any(axis=0)  # some row j dominates column i
    return sorted((t for t, d in zip(feasible, dominated, strict=True) if not d), key=lambda t: t.number)
