"""Discovery significance penalised by how much the systematic variations move the classifier
output: an analysis team's objective, registered under ``hepopt.objectives`` as
``penalised_significance``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepopt.objectives import Objective, ObjectiveInputs, ObjectiveResult
from hepopt.objectives.binning import Binning
from hepopt.stats.binning import histogram, merged_yields
from hepopt.stats.significance import asimov_significance_closed_form

__version__ = "0.1.0"


class PenalisedSignificance(Objective):
    """Z x (1 - penalty x shift), where Z is the stat-only Asimov significance of the binned output
    and shift the largest total-variation distance, ½ sum |p_nominal - p_varied|, between the
    nominal and varied output shapes of the affected events, over variations and classes.

    Options: ``penalty`` (default 1: a shift that moves all events out of their bins costs all
    the significance), ``bins``, ``binning``, ``min_background`` as for hepopt's
    ``asimov_significance``.
    """

    name = "penalised_significance"
    direction = "maximize"
    needs = frozenset({"dataset", "variations"})

    def __init__(
        self,
        penalty: float = 1.0,
        bins: int | Sequence[float] = 10,
        binning: str = "fixed",
        min_background: float = 1e-3,
        min_total: float = 0.0,
        max_background_error: float | None = None,
    ) -> None:
        if penalty < 0:
            msg = f"penalty must be >= 0, got {penalty}"
            raise ValueError(msg)
        self.penalty = float(penalty)
        self.binning = Binning.from_options(bins, binning, min_background, min_total, max_background_error)

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        if not inputs.variations:
            msg = "penalised_significance needs systematic variations in the config"
            raise ValueError(msg)
        edges = self.binning.edges_for(inputs)
        s, b = merged_yields(inputs.scores, inputs.labels, inputs.weights, edges, self.binning.merge)
        z = asimov_significance_closed_form(np.clip(s, 0.0, None), b)
        shifts = {name: self._shift(inputs, name, edges) for name in inputs.variations}
        worst = max(shifts, key=shifts.__getitem__)
        value = z * (1.0 - self.penalty * shifts[worst])
        return ObjectiveResult(
            value, {"significance": z, "shift": shifts[worst], **{f"shift_{n}": v for n, v in shifts.items()}}
        )

    @staticmethod
    def _shift(inputs: ObjectiveInputs, variation: str, edges: np.ndarray) -> float:
        """The largest total-variation distance of one variation over signal and background."""
        varied = inputs.variations[variation]
        nominal_rows = np.isin(inputs.dataset, varied.affected)
        distances = []
        for label in (0, 1):
            nom = nominal_rows & (inputs.labels == label)
            var = varied.labels == label
            if nom.any() and var.any():
                p = histogram(inputs.scores[nom], inputs.weights[nom], edges)
                q = histogram(varied.scores[var], varied.weights[var], edges)
                distances.append(0.5 * float(np.abs(p / p.sum() - q / q.sum()).sum()))
        return max(distances, default=0.0)
