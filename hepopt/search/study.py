"""The Optuna study: SQLite-backed and resumable; a diverging trial fails alone. On a database
server (``search.storage: postgresql://...``) several drivers may share one study."""

from __future__ import annotations

import os
import socket
import time
import warnings
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


# Drivers sharing a study on a database server beat every HEARTBEAT s; a trial whose driver has
# been silent for GRACE s is failed by the next driver that starts a trial, and made up for.
HEARTBEAT, GRACE = 20, 90


def is_shared(url: str) -> bool:
    """A database server (postgresql://, mysql://...): several drivers may share the study."""
    return not url.startswith((JOURNAL, "sqlite:"))


def open_storage(url: str) -> str | optuna.storages.BaseStorage:
    """What Optuna takes as ``storage`` for a URL from :func:`storage_url`; on a database server
    with heartbeats, so that a driver that dies leaves no trial RUNNING for ever."""
    if is_shared(url):
        return _server_storage(url)
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
    shared = is_shared(storage_url(config))
    if not shared:  # one driver per study: whatever is RUNNING, a killed run left
        _fail_running(probe, "process stopped")
    done = _counted(probe)
    # Reseed on resume, or the sampler would replay the random start-up points already tried;
    # drivers sharing a study also differ by process, or they would sample the same points.
    seed = config.seed + done + (os.getpid() if shared else 0)
    study = open_study(config, runner.directions, sampler_seed=seed, space=space)
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
                _objective_function(config, space, runner, driver=driver_name() if shared else None),
                n_trials=remaining,
                timeout=config.search.timeout,
                # Other drivers may be filling the same study: stop when it holds the target.
                callbacks=[*(callbacks or []), _stop_at(target)],
            )
    except KeyboardInterrupt:
        # Ctrl-C can land outside a trial's function too (while Optuna creates or records a trial,
        # or with trials in flight on Ray): whatever it left RUNNING is marked here.
        _fail_running(study, "Ctrl-C", driver_name() if shared else None)
        raise
    except Exception as error:
        # Ctrl-C while Optuna records a trial surfaces from its ``finally`` as another error.
        if not isinstance(error.__context__, KeyboardInterrupt):
            raise
        _fail_running(study, "Ctrl-C", driver_name() if shared else None)
        raise KeyboardInterrupt from error
    return SearchOutcome(study, remaining)


def _server_storage(url: str, attempts: int = 3) -> optuna.storages.RDBStorage:
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.x
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT, grace_period=GRACE)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Two drivers creating Optuna's tables in a new database at once: one loses the race.
            if attempt == attempts - 1:
                raise
            time.sleep(1.0 + attempt)
    raise AssertionError  # unreachable


def _fail_running(study: optuna.Study, why: str, driver: str | None = None) -> None:
    """Mark trials left RUNNING (by ``driver`` only, on a shared study) as failed
    (``interrupted (why)``), so the next run replaces them.

    Without ``driver`` this assumes one driver per study at a time (SQLite or a journal file in
    the output folder, which the output lock keeps to one run); on a database server, Optuna's
    heartbeat fails the trials of a driver that died.
    """
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if driver is not None and trial.user_attrs.get("driver") != driver:
            continue
        study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", f"{INTERRUPTED} ({why})")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def _counted(study: optuna.Study) -> int:
    """Finished trials, without those a stopped driver interrupted (they are made up for): marked
    ``interrupted (...)`` by hepopt, or failed by Optuna itself with no reason of hepopt's, as
    its heartbeat fails the trials of a driver that died."""
    return sum(
        t.state in FINISHED
        and not t.user_attrs.get("fail_reason", "").startswith(INTERRUPTED)
        and not (t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs)
        for t in study.get_trials(deepcopy=False)
    )


def _stop_at(target: int) -> TrialCallback:
    def stop(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        if _counted(study) >= target:
            study.stop()

    return stop


def driver_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _objective_function(
    config: HepoptConfig, space: SearchSpace, runner: TrialRunner, driver: str | None = None
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
        if driver is not None:  # which of the drivers sharing the study ran it
            trial.set_user_attr("driver", driver)
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
