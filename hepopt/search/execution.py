"""Running one trial's training and checks, the same way locally and in a Ray worker.

:func:`execute_trial` never raises for a failing trial: it returns a :class:`TrialRecord` saying
whether the trial completed, failed (with its reason, once, never retried) or was pruned.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna

from hepopt.errors import TrainingError
from hepopt.search.constraints import constraint_attrs
from hepopt.search.overtraining import overtraining_ratios, penalised, violations

if TYPE_CHECKING:
    from torch import nn

    from hepopt.config.schema import OvertrainingConfig
    from hepopt.models.params import TrainParams
    from hepopt.scoring.trial import TrialRunner
    from hepopt.training.classifier import Classifier
    from hepopt.training.trainer import EpochCallback

COMPLETE, FAIL, PRUNED = "complete", "fail", "pruned"
# Called after each finished trial (Optuna's callback signature).
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def driver_name() -> str:
    """Who runs a trial (host:pid), recorded on the trials of a study that drivers share."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class TrialRecord:
    state: str
    values: tuple[float, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)
    classifier: Classifier | None = None


def pruning_reporter(trial: optuna.Trial, runner: TrialRunner, params: TrainParams) -> EpochCallback:
    """After each epoch, report the objective itself (the pruner compares in the study's
    direction) and stop the training when the pruner says so."""

    def report(epoch: int, _train_loss: float, _val_loss: float, model: nn.Module) -> None:
        trial.report(runner.validation_value(model, params), epoch)
        if trial.should_prune():
            reason = f"pruned after epoch {epoch}"
            raise optuna.TrialPruned(reason)

    return report


def execute_trial(
    runner: TrialRunner,
    params: TrainParams,
    overtraining: OvertrainingConfig,
    on_epoch: EpochCallback | None = None,
) -> TrialRecord:
    """Train and score one set of hyperparameters; check the overtraining conditions."""
    try:
        outcome = runner.run(params, on_epoch=on_epoch)
    except optuna.TrialPruned as err:
        return TrialRecord(PRUNED, attrs={"fail_reason": str(err)})
    except TrainingError as err:
        return TrialRecord(FAIL, attrs={"fail_reason": str(err)})
    except Exception as err:  # noqa: BLE001 - a bug or a parameter the model cannot take: fail this trial once
        return TrialRecord(FAIL, attrs={"fail_reason": f"{type(err).__name__}: {err}"})
    attrs: dict[str, Any] = {
        "best_epoch": outcome.training.best_epoch + 1,
        "epochs": len(outcome.training.history),
        "val_loss": outcome.training.best_val_loss,
        "train_seconds": round(outcome.training.seconds, 3),
    }
    for result in outcome.results:
        attrs.update(result.extras)
    if runner.constraints:
        attrs.update(constraint_attrs(runner.constraints, outcome.constraint_values))
    values = outcome.values
    if overtraining.max_loss_ratio is not None or overtraining.max_objective_ratio is not None:
        ratios = overtraining_ratios(runner, outcome, params)
        attrs.update(ratios)
        broken = violations(ratios, overtraining)
        if broken:
            attrs["fail_reason"] = "overtraining: " + "; ".join(f"{n} {r:.3g} > {lim:g}" for n, r, lim in broken)
            if overtraining.action == "prune":
                return TrialRecord(PRUNED, attrs=attrs)
            values = penalised(values, runner.directions, min(lim / r for _, r, lim in broken))
    return TrialRecord(COMPLETE, values, attrs, outcome.classifier)
