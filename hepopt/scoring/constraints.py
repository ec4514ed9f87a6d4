"""Constraints on a trial's classifier (``constraints:`` in the config): objectives that must stay
within bounds, e.g. ``roc_auc >= 0.9`` or ``output_shift <= 0.02``. Each training scores them beside
its objectives; :mod:`hepopt.search.constraints` records them on the trials and ranks by them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hepopt.objectives.base import Objective

if TYPE_CHECKING:
    from hepopt.config.schema import HepoptConfig


@dataclass(frozen=True)
class Constraint:
    objective: Objective
    low: float | None = None
    high: float | None = None
    key: str = ""  # the trial's user attribute holding the value ("constraint: roc_auc")

    @property
    def label(self) -> str:
        """As a person writes it: ``roc_auc >= 0.9``, ``0.1 <= output_shift <= 0.2``."""
        name = self.objective.name
        if self.low is not None and self.high is not None:
            return f"{self.low:g} <= {name} <= {self.high:g}"
        return f"{name} >= {self.low:g}" if self.low is not None else f"{name} <= {self.high:g}"

    def violation(self, value: float) -> float:
        """How far ``value`` lies outside the bounds (<= 0 inside); a non-finite value violates."""
        if not math.isfinite(value):
            return math.inf
        parts = [self.low - value] if self.low is not None else []
        parts += [value - self.high] if self.high is not None else []
        return max(parts)


def constraints_from_config(config: HepoptConfig) -> tuple[Constraint, ...]:
    """The config's constraints, their objectives built (a ConfigError names the bad one)."""
    from hepopt.objectives.registry import make_objective

    names = [c.name for c in config.constraints]
    return tuple(
        Constraint(
            make_objective(c.name, c.options, key=f"constraints.{i}"),
            c.min,
            c.max,
            f"constraint: {c.name}" if names.count(c.name) == 1 else f"constraint: {c.name}.{i}",
        )
        for i, c in enumerate(config.constraints)
    )
