"""The Optuna study: SQLite-backed and resumable; a diverging trial fails alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from torch import nn

from hepopt.config.schema import HepoptConfig
from hepopt.errors import TrainingError
from hepopt.search.overtraining import overtraining_ratios, penalised, violations
from hepopt.search.samplers import make_pruner, make_sampler
from hepopt.search.space import SearchSpace
from hepopt.search.trial import TrialRunner, trial_model_path

TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]
FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class SearchOutcome:
    study: optuna.Study
    trials_run: int


def storage_url(config: HepoptConfig) -> str:
    """``search.storage`` if given (any Optuna RDB URL), else SQLite in the output folder."""
    if config.search.storage:
        return config.search.storage
    return f"sqlite:///{(config.output_dir / 'study.db').resolve()}"


def open_study(
    config: HepoptConfig,
    directions: list[str],
    *,
    sampler_seed: int | None = None,
    space: SearchSpace | None = None,
) -> optuna.Study:
    """Create the study, or load it when it exists (the resume path); several directions make
    a multi-objective study."""
    config.output_dir.mkdir(parents=True, exist_ok=True)
    seed = config.seed if sampler_seed is None else sampler_seed
    grid = space.grid(str(config.source)) if space is not None and config.search.sampler == "grid" else None
    max_epochs = space.baseline()["max_epochs"] if space is not None else 50
    return optuna.create_study(
        study_name=config.name,
        storage=storage_url(config),
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
    _fail_interrupted(probe)
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
    if remaining:
        study.optimize(
            _objective_function(config, space, runner),
            n_trials=remaining,
            timeout=config.search.timeout,
            callbacks=callbacks or [],
        )
    return SearchOutcome(study, remaining)


def _fail_interrupted(study: optuna.Study) -> None:
    """Mark trials a killed driver left RUNNING as failed, so they are run again.

    This assumes one driver per study at a time, which is what ``hepopt optimize`` runs; drivers
    sharing a study need Optuna's heartbeat (``fail_stale_trials``) instead.
    """
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", f"{INTERRUPTED} (process stopped)")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def _objective_function(
    config: HepoptConfig, space: SearchSpace, runner: TrialRunner
) -> Callable[[optuna.Trial], float]:
    output_dir = config.output_dir

    prune = config.search.pruner != "none"
    checks = config.search.overtraining.max_loss_ratio is not None or (
        config.search.overtraining.max_objective_ratio is not None
    )

    def failed(trial: optuna.Trial, reason: str) -> float | tuple[float, ...]:
        # NaN makes Optuna record the trial as FAIL, once, without logging a traceback.
        trial.set_user_attr("fail_reason", reason)
        nans = tuple(float("nan") for _ in runner.objectives)
        return nans if len(nans) > 1 else nans[0]

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        params = space.sample(trial)

        def report(epoch: int, _train_loss: float, _val_loss: float, model: nn.Module) -> None:
            # The pruner compares the objective itself after each epoch, in the study's direction.
            trial.report(runner.validation_value(model, params), epoch)
            if trial.should_prune():
                reason = f"pruned after epoch {epoch}"
                trial.set_user_attr("fail_reason", reason)
                raise optuna.TrialPruned(reason)

        try:
            outcome = runner.run(params, on_epoch=report if prune else None)
        except optuna.TrialPruned:
            raise
        except TrainingError as err:
            return failed(trial, str(err))
        except Exception as err:  # noqa: BLE001 - a bug or a parameter the model cannot take: fail this trial once
            return failed(trial, f"{type(err).__name__}: {err}")
        trial.set_user_attr("best_epoch", outcome.training.best_epoch + 1)
        trial.set_user_attr("epochs", len(outcome.training.history))
        trial.set_user_attr("val_loss", outcome.training.best_val_loss)
        trial.set_user_attr("train_seconds", round(outcome.training.seconds, 3))
        for result in outcome.results:
            for key, value in result.extras.items():
                trial.set_user_attr(key, value)
        values = outcome.values
        if checks:
            ratios = overtraining_ratios(runner, outcome, params)
            for key, value in ratios.items():
                trial.set_user_attr(key, value)
            broken = violations(ratios, config.search.overtraining)
            if broken:
                reason = "overtraining: " + "; ".join(f"{n} {r:.3g} > {lim:g}" for n, r, lim in broken)
                trial.set_user_attr("fail_reason", reason)
                if config.search.overtraining.action == "prune":
                    raise optuna.TrialPruned(reason)
                factor = min(lim / r for _, r, lim in broken)
                values = penalised(values, runner.directions, factor)
        outcome.classifier.save(trial_model_path(output_dir, trial.number))
        return values if len(values) > 1 else values[0]

    return objective


def completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def trial_params(space: SearchSpace, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """All hyperparameters of a finished trial: its sampled ones over the fixed and defaults."""
    return {**space.baseline(), **trial.params}


def model_path(config: HepoptConfig, trial: optuna.trial.FrozenTrial) -> Path:
    return trial_model_path(config.output_dir, trial.number)
