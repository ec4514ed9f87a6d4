"""The Optuna study: SQLite-backed and resumable; a diverging trial fails alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hepopt.config.schema import HepoptConfig
from hepopt.search.constraints import report_constraints
from hepopt.search.execution import FAIL, PRUNED, execute_trial, pruning_reporter
from hepopt.search.samplers import make_pruner, make_sampler
from hepopt.search.space import SearchSpace
from hepopt.search.trial import TrialRunner, trial_model_path

TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]
FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
INTERRUPTED = "interrupted"
JOURNAL = "journal:"


@dataclass(frozen=True)
class SearchOutcome:
    study: optuna.Study
    trials_run: int


def storage_url(config: HepoptConfig) -> str:
    """``search.storage`` if given (an Optuna RDB URL, or ``journal:PATH`` with PATH made absolute
    against the config's folder), else SQLite in the output folder."""
    url = config.search.storage
    if url is None:
        return f"sqlite:///{(config.search_dir / 'study.db').resolve()}"
    if url.startswith(JOURNAL):
        return JOURNAL + str((config.base_dir / url.removeprefix(JOURNAL)).resolve())
    return url


def open_storage(url: str) -> str | optuna.storages.BaseStorage:
    """What Optuna takes as ``storage`` for a URL from :func:`storage_url`."""
    if url.startswith(JOURNAL):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        path = url.removeprefix(JOURNAL)
        # An open(O_EXCL) lock file works on NFS, where the default symlink lock may not.
        return optuna.storages.JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    return url


def open_study(
    config: HepoptConfig,
    directions: list[str],
    *,
    sampler_seed: int | None = None,
    space: SearchSpace | None = None,
) -> optuna.Study:
    """Create the study, or load it when it exists (the resume path); several directions make
    a multi-objective study."""
    config.search_dir.mkdir(parents=True, exist_ok=True)
    seed = config.seed if sampler_seed is None else sampler_seed
    grid = space.grid(str(config.source)) if space is not None and config.search.sampler == "grid" else None
    max_epochs = space.baseline().get("max_epochs", 50) if space is not None else 50
    return optuna.create_study(
        study_name=config.name,
        storage=open_storage(storage_url(config)),
        sampler=make_sampler(config.search, seed, grid),
        pruner=make_pruner(config.search.pruner, max_epochs),
        directions=directions,
        load_if_exists=True,
    )


def run_search(
    config: HepoptConfig,
    space: SearchSpace,
    runner: TrialRunner,
    *,
    n_trials: int | None = None,
    callbacks: list[TrialCallback] | None = None,
) -> SearchOutcome:
    """Run the trials still missing from the study (all of them the first time).

    Trials left ``RUNNING`` by a killed process are marked failed and run again; a trial whose
    training diverges fails alone (its reason in the ``fail_reason`` user attribute).
    """
    target = config.search.n_trials if n_trials is None else n_trials
    probe = open_study(config, runner.directions, space=space)
    _fail_running(probe, "process stopped")
    # Trials a killed driver interrupted do not count: the resumed run makes up for them.
    done = sum(
        t.state in FINISHED and not t.user_attrs.get("fail_reason", "").startswith(INTERRUPTED)
        for t in probe.get_trials(deepcopy=False)
    )
    # Reseed on resume, or the sampler would replay the random start-up points already tried.
    study = open_study(config, runner.directions, sampler_seed=config.seed + done, space=space)
    if not study.get_trials(deepcopy=False):
        for i, point in enumerate(config.search.enqueue):
            space.check_point(point, f"{config.source}: search.enqueue.{i}")
            study.enqueue_trial(point, user_attrs={"enqueued": True})
    remaining = max(target - done, 0)
    try:
        if remaining and config.search.backend == "ray":
            from hepopt.search.ray_backend import run_on_ray

            run_on_ray(study, config, space, runner, remaining, callbacks or [])
        elif remaining:
            study.optimize(
                _objective_function(config, space, runner),
                n_trials=remaining,
                timeout=config.search.timeout,
                callbacks=callbacks or [],
            )
    except KeyboardInterrupt:
        # Ctrl-C can land outside a trial's function too (while Optuna creates or records a trial,
        # or with trials in flight on Ray): whatever it left RUNNING is marked here.
        _fail_running(study, "Ctrl-C")
        raise
    except Exception as error:
        # Ctrl-C while Optuna records a trial surfaces from its ``finally`` as another error.
        if not isinstance(error.__context__, KeyboardInterrupt):
            raise
        _fail_running(study, "Ctrl-C")
        raise KeyboardInterrupt from error
    return SearchOutcome(study, remaining)


def _fail_running(study: optuna.Study, why: str) -> None:
    """Mark trials left RUNNING as failed (``interrupted (why)``), so the next run replaces them.

    This assumes one driver per study at a time, which is what ``hepopt optimize`` runs (the
    output lock sees to it); drivers sharing a study need Optuna's heartbeat instead.
    """
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", f"{INTERRUPTED} ({why})")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def _objective_function(
    config: HepoptConfig, space: SearchSpace, runner: TrialRunner
) -> Callable[[optuna.Trial], float | tuple[float, ...]]:
    prune = config.search.pruner != "none"

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        try:
            return run_one(trial)
        except KeyboardInterrupt:
            # Wherever Ctrl-C lands in the trial, Optuna marks it failed; this reason makes the
            # next run replace it instead of counting it.
            trial.set_user_attr("fail_reason", f"{INTERRUPTED} (Ctrl-C)")
            raise

    def run_one(trial: optuna.Trial) -> float | tuple[float, ...]:
        params = space.sample(trial)
        reporter = pruning_reporter(trial, runner, params) if prune else None
        record = execute_trial(runner, params, config.search.overtraining, reporter)
        for key, value in record.attrs.items():
            trial.set_user_attr(key, value)
        report_constraints(trial, runner.constraints, record.attrs)
        if record.state == PRUNED:
            raise optuna.TrialPruned(record.attrs["fail_reason"])
        if record.state == FAIL:  # NaN: Optuna records FAIL, once, without logging a traceback
            nans = tuple(float("nan") for _ in runner.objectives)
            return nans if len(nans) > 1 else nans[0]
        record.classifier.save(trial_model_path(config.search_dir, trial.number))  # type: ignore[union-attr]
        return record.values if len(record.values) > 1 else record.values[0]

    return objective


def completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def trial_params(space: SearchSpace, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """All hyperparameters of a finished trial: its sampled ones over the fixed and defaults."""
    return space.values(trial.params)


def model_path(config: HepoptConfig, trial: optuna.trial.FrozenTrial) -> Path:
    return trial_model_path(config.search_dir, trial.number)
