"""Several objectives as one number: a weighted sum, for a single-objective study that trades
them off at a fixed exchange rate (a multi-objective study, ``objectives:``, maps the trade-off)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hepopt.objectives.base import Objective, ObjectiveInputs, ObjectiveResult

TERM_KEYS = {"name", "weight", "options"}


class WeightedSum(Objective):
    """sum_i weight_i * v_i, each term's value v_i signed by its direction (a minimised term
    counts negatively), so the sum is always maximised and every weight is > 0.

    Options: ``terms``: a list of ``{name, weight, options}``, e.g. the significance minus 20 x
    the output shift: ``[{name: asimov_significance}, {name: output_shift, weight: 20}]``
    (weight defaults to 1). Each term's own value is in the extras under its name.
    """

    name = "weighted_sum"
    direction = "maximize"

    def __init__(self, terms: Sequence[Mapping[str, Any]] = ()) -> None:
        from hepopt.objectives.registry import make_objective

        if not terms:
            msg = "terms: give at least one {name, weight, options}"
            raise ValueError(msg)
        self.terms: list[tuple[str, float, Objective]] = []
        for i, term in enumerate(terms):
            if not isinstance(term, Mapping) or "name" not in term or set(term) - TERM_KEYS:
                msg = f"terms.{i}: expected a mapping with 'name' and optional 'weight', 'options'; got {term!r}"
                raise ValueError(msg)
            weight = float(term.get("weight", 1.0))
            if not weight > 0:
                msg = f"terms.{i}.weight must be > 0 (a minimised objective counts negatively by itself), got {weight}"
                raise ValueError(msg)
            objective = make_objective(term["name"], term.get("options"), key=f"terms.{i}")
            label = term["name"] if sum(t["name"] == term["name"] for t in terms) == 1 else f"{term['name']}_{i}"
            self.terms.append((label, weight, objective))
        self.needs = frozenset().union(*(o.needs for _, _, o in self.terms))

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        total, extras = 0.0, {}
        for label, weight, objective in self.terms:
            value = objective.evaluate(inputs).value
            total += weight * (value if objective.direction == "maximize" else -value)
            extras[label] = value
        return ObjectiveResult(total, extras)
