"""What the optimize stage reports: each scored trial (:class:`TrialSummary`) and the whole run
(:class:`OptimizeResult`, written to ``summary.json`` and read back from it)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hepopt.training.classifier import Classifier


@dataclass(frozen=True)
class TrialSummary:
    """A trial's hyperparameters, its objective values on the validation (searched) and test
    splits (one per objective), and the test metrics of :func:`hepopt.scoring.evaluation.evaluate_classifier`."""

    number: int
    params: dict[str, Any]
    validation: list[float]
    test: list[float]
    test_metrics: dict[str, float] = field(default_factory=dict)
    constraints: dict[str, float] = field(default_factory=dict)  # label -> value on validation
    feasible: bool = True  # satisfies every constraint on validation
    # Statistical uncertainties (Poisson bootstrap over events, search.bootstrap replicas): of each
    # objective on validation and test, and of each test metric; empty when not computed.
    validation_error: list[float] = field(default_factory=list)
    test_error: list[float] = field(default_factory=list)
    test_metrics_error: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimizeResult:
    output_dir: Path
    objectives: list[str]
    directions: list[str]
    best: TrialSummary
    baseline: TrialSummary | None
    pareto: list[TrialSummary]
    n_complete: int
    n_failed: int
    trials_run: int
    yields: dict[str, dict[str, float]]
    files: dict[str, Path]
    finetune: dict[str, Any] | None = None  # PBT's best vs. the best search trial
    importances: dict[str, float] = field(default_factory=dict)  # hyperparameter -> share (PED-ANOVA)
    comparisons: dict[str, TrialSummary] = field(default_factory=dict)  # model.compare family -> its defaults
    family: str = "mlp"  # the config's model.family (what loading best_model.pt may import)
    # hepopt's defaults (trained beside the study: outside its ranges) beat every trial on validation
    best_is_defaults: bool = False
    model_from: str = ""  # which events best_model.pt was trained on, and how it was chosen
    cross_validation: dict[str, Any] | None = None  # mode best_trials: each best trial's folds
    # How each binned number was binned: "objective: <name>" and "metric: <name>" -> description
    binning: dict[str, str] = field(default_factory=dict)
    # What was chosen on which events: the split, the choices made on validation, where it is reported
    selection: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def model(self) -> Classifier:
        """The best classifier (loaded from ``best_model.pt``)."""
        from hepopt.training.classifier import Classifier as ClassifierFile

        return ClassifierFile.load(self.files["best_model"], family=self.family)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimizeResult:
        """Back from ``summary.json`` (what :meth:`to_dict` wrote). The model family is not taken
        from the file (a module path there would be imported by :attr:`model`): set it with
        ``dataclasses.replace(result, family=...)`` from the config."""
        data = dict(data)
        data.pop("family", None)
        data["best"] = TrialSummary(**data["best"])
        data["baseline"] = TrialSummary(**data["baseline"]) if data.get("baseline") else None
        data["pareto"] = [TrialSummary(**p) for p in data.get("pareto", [])]
        data["comparisons"] = {k: TrialSummary(**v) for k, v in data.get("comparisons", {}).items()}
        data["output_dir"] = Path(data["output_dir"])
        data["files"] = {k: Path(v) for k, v in data["files"].items()}
        return cls(**data)


def value_with_error(value: float, error: float | None) -> str:
    """``value ± error`` (the error to two significant digits, the value to the same decimal)."""
    if error is None or not math.isfinite(error) or error <= 0:
        return f"{value:.4g}"
    decimals = max(0, 1 - math.floor(math.log10(error)))
    return f"{value:.{decimals}f} ± {error:.{decimals}f}"
