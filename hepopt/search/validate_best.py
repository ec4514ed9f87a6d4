"""Cross-validation of the search's best trials (``search.cross_validation.mode: best_trials``).

The search runs on one train/validation split; then each of its ``best`` best trials is trained on
every fold of the events outside the test split, and the trial with the best mean over the folds
is kept. The folds only rank the trials: the model kept is the trial's own, trained on the
search's split, so the numbers reported for it are those of that model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import optuna

    from hepopt.config.schema import HepoptConfig
    from hepopt.scoring.constraints import Constraint
    from hepopt.scoring.trial import TrialRunner
    from hepopt.search.space import SearchSpace


@dataclass(frozen=True)
class FoldScores:
    number: int  # the trial
    values: list[float]  # the first objective on each fold's validation events
    mean: float
    std: float


@dataclass(frozen=True)
class BestTrialsCV:
    folds: int
    by: str
    rows: list[FoldScores]  # in the search's order, best first
    chosen: int  # the trial with the best mean over the folds

    def to_dict(self) -> dict[str, Any]:
        return {"mode": "best_trials", **asdict(self)}

    def write_csv(self, path: Path) -> None:
        """One row per cross-validated trial: its values per fold, mean, std, whether kept."""
        import csv

        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["number", *(f"fold_{i}" for i in range(self.folds)), "mean", "std", "kept"])
            for row in self.rows:
                writer.writerow([row.number, *row.values, row.mean, row.std, row.number == self.chosen])


def _fold_value(runners: list[TrialRunner], fold: int, params: dict[str, Any]) -> float:
    """The first objective of ``params`` trained on fold ``fold`` (NaN when the training fails)."""
    from hepopt.errors import TrainingError
    from hepopt.models.params import TrainParams

    try:
        return runners[fold].run(TrainParams.from_mapping(params)).values[0]
    except TrainingError:
        return math.nan


def cross_validate_best(
    config: HepoptConfig,
    study: optuna.Study,
    space: SearchSpace,
    runners: list[TrialRunner],
    direction: str,
    constraints: tuple[Constraint, ...] = (),
) -> BestTrialsCV:
    """Train the best ``search.cross_validation.best`` trials on every fold (side by side, see
    :class:`hepopt.search.task_pool.TaskPool`) and choose the best mean."""
    from hepopt.search.constraints import ranked_trials
    from hepopt.search.study import completed
    from hepopt.search.task_pool import TaskPool

    cv = config.search.cross_validation
    assert cv is not None
    trials = ranked_trials(completed(study), direction, constraints)[: cv.best]
    calls = [(fold, space.values(trial.params)) for trial in trials for fold in range(len(runners))]
    with TaskPool(config, runners) as pool:
        values = np.array(pool.map(_fold_value, calls), dtype=float).reshape(len(trials), len(runners))
    rows = [
        FoldScores(t.number, [float(v) for v in row], float(np.mean(row)), float(np.std(row, ddof=1)))
        for t, row in zip(trials, values, strict=True)
    ]
    sign = 1.0 if direction == "maximize" else -1.0
    finite = [r for r in rows if math.isfinite(r.mean)] or rows
    chosen = max(finite, key=lambda r: (sign * r.mean if math.isfinite(r.mean) else -math.inf, -r.number))
    return BestTrialsCV(cv.folds, cv.by, rows, chosen.number)
