"""Trials side by side in workers, the same way on local processes and on Ray.

The driver keeps the study: it asks Optuna for each trial's parameters, hands them to a free
worker and tells Optuna the result, so only the driver writes trials (SQLite is safe); with
pruning a worker reports its epochs through its own storage connection. A worker returns plain
tensors (a classifier's payload), which the driver saves. A worker that dies mid-trial (killed,
out of memory) fails that trial with the reason and is replaced; the study goes on.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import optuna

from hepopt.search.constraints import report_constraints
from hepopt.search.execution import COMPLETE, FAIL, PRUNED, TrialRecord, execute_trial, pruning_reporter

if TYPE_CHECKING:
    from hepopt.config.schema import HepoptConfig, OvertrainingConfig
    from hepopt.scoring.trial import TrialRunner
    from hepopt.search.execution import TrialCallback
    from hepopt.search.space import SearchSpace

WORKER_DIED = "worker died during the trial"
log = logging.getLogger(__name__)


class WorkerPool(Protocol):
    """``size`` workers, each running one trial at a time."""

    size: int

    def submit(self, slot: int, params: dict[str, Any], overtraining: Any, pruning: dict[str, Any] | None) -> None:
        """Start a trial on worker ``slot`` (free)."""

    def wait(self) -> tuple[int, TrialRecord | None]:
        """The next finished trial: its worker's slot and record, None when the worker died
        (the pool has replaced it)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop every worker (also those still in a trial: the caller marks those)."""


def execute_for_driver(
    runner: TrialRunner, params: dict[str, Any], overtraining: OvertrainingConfig, pruning: dict[str, Any] | None
) -> TrialRecord:
    """One trial in a worker: train and score it, report its epochs to the study for pruning,
    and send back plain tensors instead of a live module."""
    from hepopt.models.params import TrainParams

    train_params = TrainParams.from_mapping(params)
    reporter = None
    if pruning is not None:
        from hepopt.search.samplers import make_pruner
        from hepopt.search.storage import open_storage

        study = optuna.load_study(
            study_name=pruning["study"],
            storage=open_storage(pruning["storage"]),
            pruner=make_pruner(pruning["pruner"], pruning["max_epochs"], pruning["settings"]),
        )
        reporter = pruning_reporter(optuna.trial.Trial(study, pruning["trial_id"]), runner, train_params)
    record = execute_trial(runner, train_params, overtraining, reporter)
    import torch

    record.attrs["worker_pid"] = os.getpid()
    record.attrs["torch_threads"] = torch.get_num_threads()
    if record.classifier is not None:
        record.attrs["_payload"] = record.classifier.payload()
        record.classifier = None
    return record


def run_parallel(
    study: optuna.Study,
    config: HepoptConfig,
    space: SearchSpace,
    runner: TrialRunner,
    n_trials: int,
    callbacks: list[TrialCallback],
    pool: WorkerPool,
    enough: Callable[[], bool] = lambda: False,
) -> None:
    """Run ``n_trials`` trials, ``pool.size`` at a time; no new one once the timeout has passed
    or ``enough()`` says so (other drivers filled a shared study)."""
    from hepopt.search.execution import driver_name
    from hepopt.search.storage import is_shared, storage_url

    shared = is_shared(storage_url(config))
    idle = list(range(pool.size))
    pending: dict[int, optuna.Trial] = {}
    launched, start = 0, time.monotonic()
    max_epochs = space.baseline().get("max_epochs", 50)

    def more() -> bool:
        late = config.search.timeout is not None and time.monotonic() - start > config.search.timeout
        return launched < n_trials and not late and not enough()

    try:
        while pending or more():
            while idle and more():
                trial = study.ask()
                if shared:  # which of the drivers sharing the study runs it
                    trial.set_user_attr("driver", driver_name())
                params = space.sample(trial).to_dict()
                pruning = None
                if config.search.pruner != "none":
                    pruning = {
                        "study": study.study_name,
                        "storage": storage_url(config),
                        "pruner": config.search.pruner,
                        "settings": config.search.pruning,
                        "max_epochs": max_epochs,
                        "trial_id": trial._trial_id,
                    }
                slot = idle.pop()
                pool.submit(slot, params, config.search.overtraining, pruning)
                pending[slot] = trial
                launched += 1
            if not pending:
                break
            slot, record = pool.wait()
            trial = pending.pop(slot)
            idle.append(slot)
            _record(study, trial, record or TrialRecord(FAIL, attrs={"fail_reason": WORKER_DIED}), runner, config)
            frozen = study._storage.get_trial(trial._trial_id)
            for callback in callbacks:
                callback(study, frozen)
    finally:
        pool.close()


def _record(study: optuna.Study, trial: optuna.Trial, record: TrialRecord, runner: TrialRunner, config: Any) -> None:
    from hepopt.scoring.trial import trial_model_path
    from hepopt.training.classifier import save_payload

    payload = record.attrs.pop("_payload", None)
    for key, value in record.attrs.items():
        trial.set_user_attr(key, value)
    report_constraints(trial, runner.constraints, record.attrs)
    if record.state == COMPLETE:
        save_payload(payload, trial_model_path(config.search_dir, trial.number))
        values = list(record.values) if len(record.values) > 1 else record.values[0]
        study.tell(trial, values)
        # The line Optuna writes for a trial it ran itself, for the log file.
        log.info("Trial %d finished with value: %s and parameters: %s.", trial.number, values, trial.params)
    elif record.state == PRUNED:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        log.info("Trial %d pruned. %s", trial.number, record.attrs.get("fail_reason", ""))
    else:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log.warning("Trial %d failed: %s", trial.number, record.attrs.get("fail_reason", ""))
