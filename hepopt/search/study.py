"""The Optuna study: SQLite-backed and resumable; a diverging trial fails alone. On a database
server (``search.storage: postgresql://...``) several drivers may share one study."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hepopt.config.schema import HepoptConfig
from hepopt.errors import StateError
from hepopt.runtime.cpus import training_threads, trial_workers
from hepopt.runtime.signals import interrupt_in, interrupt_reason
from hepopt.scoring.trial import TrialRunner, trial_model_path
from hepopt.search.constraints import report_constraints
from hepopt.search.execution import FAIL, PRUNED, TrialCallback, driver_name, execute_trial, pruning_reporter
from hepopt.search.identity import (
    EARLIER,
    StudyKey,
    archive_study,
    changed_parts,
    record_key,
    recorded_key,
    restore_study,
    study_key,
)
from hepopt.search.samplers import make_pruner, make_sampler
from hepopt.search.space import SearchSpace
from hepopt.search.storage import is_shared, open_storage, storage_url

FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
INTERRUPTED = "interrupted"
DEFAULTS = "defaults"  # user attribute of the trial that ran hepopt's default hyperparameters


@dataclass(frozen=True)
class SearchOutcome:
    study: optuna.Study
    trials_run: int
    earlier: str | None = None  # the name an earlier study of other inputs (or --force) is kept under
    changed: tuple[str, ...] = ()  # which search inputs differ from that study's
    restored: str | None = None  # the study kept earlier for these very inputs, resumed again

    def earlier_note(self, stage: str, config: HepoptConfig) -> str | None:
        """What the user is told when the search did not resume the study it found (else None)."""
        then = (
            f"the study kept as '{self.restored}' (made with these inputs) is resumed"
            if self.restored
            else "a new study starts"
        )
        if self.earlier is None:
            return f"{stage}: {then}" if self.restored else None
        why = f"its search inputs changed ({', '.join(self.changed)})" if self.changed else "--force"
        return (
            f"{stage}: study '{config.name}' not resumed: {why}; it is kept as '{self.earlier}' "
            f"(its files in {config.search_dir / EARLIER / self.earlier}), and {then}"
        )


def open_study(
    config: HepoptConfig,
    directions: list[str],
    *,
    sampler_seed: int | None = None,
    space: SearchSpace | None = None,
    key: StudyKey | None = None,
) -> optuna.Study:
    """Create the study, or load it when it exists (the resume path); several directions make
    a multi-objective study. A new study records ``key`` (default: the config's own); an existing
    one must hold that key (:func:`claim_study` sees to it before a search)."""
    config.search_dir.mkdir(parents=True, exist_ok=True)
    seed = config.seed if sampler_seed is None else sampler_seed
    grid = space.grid(str(config.source)) if space is not None and config.search.sampler == "grid" else None
    max_epochs = space.baseline().get("max_epochs", 50) if space is not None else 50
    key = key or study_key(config)
    study = optuna.create_study(
        study_name=config.name,
        storage=open_storage(storage_url(config)),
        sampler=make_sampler(config.search, seed, grid),
        pruner=make_pruner(config.search.pruner, max_epochs, config.search.pruning),
        directions=directions,  # type: ignore[arg-type]  # "maximize"/"minimize": the objectives' own
        load_if_exists=True,
    )
    recorded, parts = recorded_key(study)
    if recorded is None:
        record_key(study, key)
        # Two drivers creating a shared study at once both record: the last one wins, and the
        # other learns it here instead of filling a study of other inputs.
        recorded, parts = recorded_key(study)  # read back from the storage
    if recorded != key.key:
        raise _other_inputs(config, changed_parts(parts, key))
    return study


def claim_study(
    config: HepoptConfig, key: StudyKey, *, fresh: bool = False
) -> tuple[str | None, tuple[str, ...], str | None]:
    """Make the study called ``config.name`` one of ``key``'s inputs before a search resumes it.

    A study of other inputs (or any study, with ``fresh``) is kept under another name with its
    files, so the search starts anew, or resumes the study kept earlier for exactly these inputs
    (a config changed back); on a shared database server a study of other inputs is refused.
    Returns the name the earlier study is kept under (None when there was none), what changed,
    and the name of the kept study brought back (None when none was).
    """
    url = storage_url(config)
    storage = open_storage(url)
    try:
        study = optuna.load_study(study_name=config.name, storage=storage)
    except KeyError:
        restored = None if fresh or is_shared(url) else restore_study(storage, config.name, key, config.search_dir)
        return None, (), restored
    recorded, parts = recorded_key(study)
    same = recorded == key.key
    if same and not fresh:
        return None, (), None
    changed = () if same else tuple(changed_parts(parts, key))
    if not study.get_trials(deepcopy=False):
        if recorded is None:  # created, then its run stopped (or another driver is recording now)
            return None, (), None
        if not is_shared(url):  # empty: nothing in it to keep
            optuna.delete_study(study_name=config.name, storage=storage)
            return None, changed, None
    if is_shared(url):
        if fresh:
            msg = (
                f"search.storage: --force cannot start study '{config.name}' anew on a database server other "
                "drivers may share; give this run another 'name'"
            )
            raise StateError(msg)
        raise _other_inputs(config, list(changed))
    archived = archive_study(storage, config.name, recorded, config.search_dir)
    restored = None if fresh else restore_study(storage, config.name, key, config.search_dir)
    return archived, changed, restored


def _other_inputs(config: HepoptConfig, changed: list[str]) -> StateError:
    msg = (
        f"search.storage: study '{config.name}' holds trials made with other search inputs (changed: "
        f"{', '.join(changed)}); drivers share a study only with the same inputs: use that study's config, "
        "or give this run another 'name'"
    )
    return StateError(msg)


def run_search(
    config: HepoptConfig,
    space: SearchSpace,
    runner: TrialRunner,
    *,
    n_trials: int | None = None,
    callbacks: list[TrialCallback] | None = None,
    key: StudyKey | None = None,
    fresh: bool = False,
) -> SearchOutcome:
    """Run the trials still missing from the study (all of them the first time).

    ``key`` fingerprints the search inputs (default: the config's own, see
    :mod:`hepopt.search.identity`): a study of other inputs is not resumed but kept under another
    name, and a new one starts; so does any earlier study with ``fresh`` (``--force``).

    Trials left ``RUNNING`` by a killed process are marked failed and run again; a trial whose
    training diverges fails alone (its reason in the ``fail_reason`` user attribute).
    """
    target = config.search.n_trials if n_trials is None else n_trials
    key = key or study_key(config)
    earlier, changed, restored = claim_study(config, key, fresh=fresh)
    probe = open_study(config, runner.directions, space=space, key=key)
    shared = is_shared(storage_url(config))
    if not shared:  # one driver per study: whatever is RUNNING, a killed run left
        _fail_running(probe, "process stopped")
    done = _counted(probe)
    # Reseed on resume, or the sampler would replay the random start-up points already tried;
    # drivers sharing a study also differ by process, or they would sample the same points.
    seed = config.seed + done + (os.getpid() if shared else 0)
    study = open_study(config, runner.directions, sampler_seed=seed, space=space, key=key)
    if not study.get_trials(deepcopy=False):
        # hepopt's defaults compete as the first trial when the space can take them (else they are
        # trained beside the study and compared, see hepopt.results.search_results); then the config's points.
        # (Not on a shared server: drivers starting together would each enqueue them.)
        defaults = space.defaults_point() if config.search.sampler != "grid" and not shared else None
        if defaults is not None:
            study.enqueue_trial(defaults, user_attrs={"enqueued": True, DEFAULTS: True})
        for i, point in enumerate(config.search.enqueue):
            space.check_point(point, f"{config.source}: search.enqueue.{i}")
            study.enqueue_trial(point, user_attrs={"enqueued": True})
    remaining = max(target - done, 0)
    mine = driver_name() if shared else None
    workers = trial_workers(config.search.workers)

    def enough() -> bool:  # other drivers may be filling the same study: stop when it holds the target
        return shared and _counted(study) >= target

    try:
        if remaining and config.search.backend == "ray":
            from hepopt.search.ray_backend import run_on_ray

            run_on_ray(study, config, space, runner, remaining, callbacks or [], enough)
        elif side_by_side(config, remaining, workers, runner):
            # Trials side by side in processes, one thread each (a GPU run stays in this process).
            from hepopt.search.local_pool import ProcessPool
            from hepopt.search.parallel_trials import run_parallel

            pool = ProcessPool(runner, min(workers, remaining), training_threads(config.training.threads))
            run_parallel(study, config, space, runner, remaining, callbacks or [], pool, enough)
        elif remaining:
            study.optimize(
                _objective_function(config, space, runner, driver=mine),
                n_trials=remaining,
                timeout=config.search.timeout,
                callbacks=[*(callbacks or []), _stop_at(target)],
            )
    except KeyboardInterrupt as interrupt:
        # Ctrl-C (or SIGTERM) can land outside a trial's function too (while Optuna creates or
        # records a trial, or with trials in flight in workers): whatever it left RUNNING is marked.
        _mark_interrupted(study, interrupt, mine, storage_url(config))
        raise
    except Exception as error:
        # Ctrl-C while Optuna records a trial surfaces from its ``finally`` (or its storage's
        # commit) as another error.
        stopped = interrupt_in(error)
        if stopped is None:
            raise
        _mark_interrupted(study, stopped, mine, storage_url(config))
        raise stopped from error
    return SearchOutcome(study, remaining, earlier, changed, restored)


def side_by_side(config: HepoptConfig, remaining: int, workers: int, runner: TrialRunner) -> bool:
    """Whether the local backend runs the trials in worker processes: several cores, trials
    enough to pay for the workers' start-up (a few seconds: two rounds at least), on the CPU (a
    GPU run stays in this process), and not a grid (its sampler walks the grid in order)."""
    return (
        workers > 1
        and remaining >= 2 * workers
        and config.search.sampler != "grid"
        and runner.sets.train.x_tensor.device.type == "cpu"
    )


def _mark_interrupted(study: optuna.Study, interrupt: BaseException, driver: str | None, url: str) -> None:
    """Mark what the interrupt left RUNNING. The interrupt may have cut the study's own connection
    off mid-statement: its SQLite transaction then still holds a lock that would block every other
    connection of this process, so it is rolled back and the connections closed, and the marking
    runs on a fresh connection. If that fails too, the next run marks those trials instead
    (``interrupted (process stopped)``)."""
    why = interrupt_reason(interrupt)
    try:
        _fail_running(study, why, driver)
    except Exception:  # noqa: BLE001 - whatever cut the connection off, a fresh one tries
        _release_connections(study)
        try:
            again = optuna.load_study(study_name=study.study_name, storage=open_storage(url))
            _fail_running(again, why, driver)
        except Exception:
            logging.getLogger(__name__).warning(
                "could not mark the interrupted trials; the next run will", exc_info=True
            )


def _release_connections(study: optuna.Study) -> None:
    """Roll back the study's open transaction (an interrupted read holds SQLite's lock) and close
    its connections."""
    storage: Any = getattr(study._storage, "_backend", study._storage)  # Optuna's cache wraps the RDB storage
    with contextlib.suppress(Exception):
        storage.scoped_session.rollback()
        storage.scoped_session.remove()
    with contextlib.suppress(Exception):
        storage.engine.dispose()


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


def _objective_function(
    config: HepoptConfig, space: SearchSpace, runner: TrialRunner, driver: str | None = None
) -> Callable[[optuna.Trial], float | tuple[float, ...]]:
    prune = config.search.pruner != "none"

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        try:
            return run_one(trial)
        except KeyboardInterrupt as interrupt:
            # Wherever Ctrl-C (or SIGTERM) lands in the trial, Optuna marks it failed; this reason
            # makes the next run replace it instead of counting it.
            trial.set_user_attr("fail_reason", f"{INTERRUPTED} ({interrupt_reason(interrupt)})")
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
