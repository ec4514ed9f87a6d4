"""One trial trained several times: on every cross-validation fold and/or with several seeds
(``search.executions_per_trial``), the same hyperparameters each time.

The objective of the trial is the mean over the runs, with their spread in the trial's user
attributes (``runs``, ``values_per_run``, ``std_over_runs``); so is each constraint's value. The
model kept (saved, exported, reported on the test split) is the first run's; the test split is
the same in every fold and no fold ever trains on it. Pruning reports and overtraining checks look
at the first run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hepopt.objectives.base import ObjectiveResult
from hepopt.scoring.trial import TrialOutcome, TrialRunner

if TYPE_CHECKING:
    from torch import nn

    from hepopt.models.params import TrainParams
    from hepopt.training.trainer import EpochCallback


@dataclass(frozen=True)
class AveragedRunner:
    """A :class:`TrialRunner` per run (fold x seed), presenting itself as one runner."""

    runs: tuple[TrialRunner, ...]

    def __getattr__(self, name: str) -> object:
        # sets, objectives, directions, adversary, score, ...: those of the first run. Dunder names
        # and 'runs' itself are not forwarded: unpickling (Ray) asks for them before 'runs' exists.
        if name.startswith("__") or name == "runs":
            raise AttributeError(name)
        return getattr(self.runs[0], name)

    def on_device(self, device: str) -> AveragedRunner:
        return AveragedRunner(tuple(run.on_device(device) for run in self.runs))

    def validation_value(self, model: nn.Module, params: TrainParams) -> float:
        return self.runs[0].validation_value(model, params)

    def run(self, params: TrainParams, on_epoch: EpochCallback | None = None) -> TrialOutcome:
        outcomes = [self.runs[0].run(params, on_epoch)] + [run.run(params) for run in self.runs[1:]]
        results = []
        for i, first in enumerate(outcomes[0].results):
            values = np.array([o.results[i].value for o in outcomes])
            extras: dict[str, Any] = {
                **first.extras,
                "std_over_runs": float(values.std(ddof=1)),
                "values_per_run": [float(v) for v in values],
                "runs": len(values),
            }
            results.append(ObjectiveResult(float(values.mean()), extras))
        constraints = np.mean([o.constraint_values for o in outcomes], axis=0) if outcomes[0].constraint_values else []
        return TrialOutcome(
            outcomes[0].classifier, outcomes[0].training, tuple(results), tuple(float(v) for v in constraints)
        )
