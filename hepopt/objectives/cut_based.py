"""Objectives on cuts and shapes of the classifier output (thin classes over
:mod:`hepopt.stats.figures_of_merit`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepopt.objectives.base import Objective, ObjectiveInputs, ObjectiveResult
from hepopt.objectives.binning import Binning
from hepopt.stats.binning import DEFAULT_MIN_BACKGROUND
from hepopt.stats.figures_of_merit import (
    asimov_log_likelihood_ratio,
    asimov_significance_with_sigma_b,
    asimov_significance_with_uncertainty,
    background_rejection,
    best_cut_significance,
    separation_power,
)


def _fraction(value: float, what: str) -> float:
    if not 0.0 <= value <= 1.0:
        msg = f"{what} must be in [0, 1], got {value}"
        raise ValueError(msg)
    return float(value)


class SeparationPower(Objective):
    """TMVA's separation <S^2> of the signal and background output shapes (options: ``bins``)."""

    name = "separation"
    direction = "maximize"

    def __init__(self, bins: int = 50) -> None:
        self.bins = int(bins)

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        return ObjectiveResult(separation_power(inputs.scores, inputs.labels, inputs.weights, self.bins))


class _BestCut(Objective):
    formula = "s/sqrt(s+b)"

    def __init__(self, min_signal_efficiency: float = 0.0, min_background: float = DEFAULT_MIN_BACKGROUND) -> None:
        self.min_signal_efficiency = _fraction(min_signal_efficiency, "min_signal_efficiency")
        self.min_background = float(min_background)

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        z, cut, s, b = best_cut_significance(
            inputs.scores, inputs.labels, inputs.weights, self.formula, self.min_signal_efficiency, self.min_background
        )
        return ObjectiveResult(z, {"cut": cut, "signal": s, "background": b})


class SOverSqrtSPlusB(_BestCut):
    """s/sqrt(s+b) at the best cut on the output (options: ``min_signal_efficiency``, e.g. 0.25
    to keep at least a quarter of the signal; ``min_background`` expected events above the cut)."""

    name = "s_over_sqrt_s_plus_b"
    formula = "s/sqrt(s+b)"


class SOverSqrtB(_BestCut):
    """s/sqrt(b) at the best cut on the output (same options as ``s_over_sqrt_s_plus_b``)."""

    name = "s_over_sqrt_b"
    formula = "s/sqrt(b)"


class BackgroundRejection(Objective):
    """1 - background efficiency at a fixed signal efficiency (option ``signal_efficiency``, 0.5)."""

    name = "background_rejection"
    direction = "maximize"

    def __init__(self, signal_efficiency: float = 0.5) -> None:
        self.signal_efficiency = _fraction(signal_efficiency, "signal_efficiency")

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        value = background_rejection(inputs.scores, inputs.labels, inputs.weights, self.signal_efficiency)
        return ObjectiveResult(value)


class AsimovWithUncertainty(Objective):
    """Binned Asimov significance with a background uncertainty per bin (Cowan et al. 2011,
    closed form). Options: ``relative_uncertainty`` (a fraction of each bin's background; 0.1 by
    default) or ``absolute_uncertainty`` (each bin's background known to this many events), and
    ``bins``, ``binning``, ``min_background`` as for ``asimov_significance``."""

    name = "asimov_significance_sigma_b"
    direction = "maximize"

    def __init__(
        self,
        relative_uncertainty: float | None = None,
        bins: int | Sequence[float] = 10,
        min_background: float = DEFAULT_MIN_BACKGROUND,
        min_total: float = 0.0,
        max_background_error: float | None = None,
        binning: str = "fixed",
        absolute_uncertainty: float | None = None,
    ) -> None:
        if relative_uncertainty is not None and absolute_uncertainty is not None:
            msg = "give relative_uncertainty or absolute_uncertainty, not both"
            raise ValueError(msg)
        for name, value in (
            ("relative_uncertainty", relative_uncertainty),
            ("absolute_uncertainty", absolute_uncertainty),
        ):
            if value is not None and value < 0:
                msg = f"{name} must be >= 0, got {value}"
                raise ValueError(msg)
        self.absolute_uncertainty = None if absolute_uncertainty is None else float(absolute_uncertainty)
        self.relative_uncertainty = 0.1 if relative_uncertainty is None else float(relative_uncertainty)
        self.binning = Binning.from_options(bins, binning, min_background, min_total, max_background_error)

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        s, b = self.binning.yields(inputs)
        s = np.clip(s, 0.0, None)
        if self.absolute_uncertainty is not None:
            z = asimov_significance_with_sigma_b(s, b, self.absolute_uncertainty)
        else:
            z = asimov_significance_with_uncertainty(s, b, self.relative_uncertainty)
        return ObjectiveResult(z, {"signal": float(s.sum()), "background": float(b.sum())})


class LogLikelihoodRatio(Objective):
    """Expected -2 ln(likelihood ratio) of the binned classifier output on Asimov data
    (closed form; pyhf's test statistics give the same numbers).

    Options: ``test``: ``discovery`` (background-only rejected on signal + background data, q0,
    the default) or ``exclusion`` (the signal rejected on background-only data, q1, what a search
    that expects a limit optimises); ``signal_strength``: the signal yield scale assumed (1);
    ``bins``, ``binning``, ``min_background`` as for ``asimov_significance``. The extras hold
    ``significance`` = sqrt(q).
    """

    name = "log_likelihood_ratio"
    direction = "maximize"

    def __init__(
        self,
        test: str = "discovery",
        signal_strength: float = 1.0,
        bins: int | Sequence[float] = 10,
        binning: str = "fixed",
        min_background: float = DEFAULT_MIN_BACKGROUND,
        min_total: float = 0.0,
        max_background_error: float | None = None,
    ) -> None:
        asimov_log_likelihood_ratio(np.ones(1), np.ones(1), test)  # checks the name
        if signal_strength <= 0:
            msg = f"signal_strength must be > 0, got {signal_strength}"
            raise ValueError(msg)
        self.test = test
        self.signal_strength = float(signal_strength)
        self.binning = Binning.from_options(bins, binning, min_background, min_total, max_background_error)

    def evaluate(self, inputs: ObjectiveInputs) -> ObjectiveResult:
        s, b = self.binning.yields(inputs)
        q = asimov_log_likelihood_ratio(self.signal_strength * np.clip(s, 0.0, None), b, self.test)
        return ObjectiveResult(q, {"significance": float(np.sqrt(max(q, 0.0))), "bins": float(len(s))})
