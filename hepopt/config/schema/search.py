"""The sections of the search and what comes after it: objectives, constraints, pruning,
overtraining checks, cross-validation, the search itself, fine-tuning, elimination, export."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hepopt.config.schema.base import Section


class ObjectiveConfig(Section):
    """An objective: a ``hepopt.objectives`` entry point and its options."""

    name: str = "asimov_significance"
    """The objective's name (``hepopt objectives`` lists those installed)."""
    options: dict[str, Any] = {}
    """Its options (e.g. ``bins``, ``binning``, ``min_background``)."""


class ConstraintConfig(Section):
    """An objective that a classifier must keep within bounds to count (e.g. ``roc_auc``,
    ``min: 0.9``): the sampler steers away from violating trials and the best model is chosen
    among those that satisfy every constraint."""

    name: str
    """The objective."""
    options: dict[str, Any] = {}
    """Its options."""
    min: float | None = None
    """Lowest value allowed."""
    max: float | None = None
    """Highest value allowed."""

    @model_validator(mode="after")
    def _bounded(self) -> ConstraintConfig:
        if self.min is None and self.max is None:
            msg = "give 'min', 'max' or both"
            raise ValueError(msg)
        if self.min is not None and self.max is not None and self.min > self.max:
            msg = f"min ({self.min}) is above max ({self.max})"
            raise ValueError(msg)
        return self


class OvertrainingConfig(Section):
    """Conditions on training vs. validation: a trial that breaks one is pruned or penalised."""

    max_loss_ratio: float | None = Field(default=None, gt=0)
    """Validation loss / training loss (both in eval mode, the kept epoch) above this is overtraining."""
    max_objective_ratio: float | None = Field(default=None, gt=0)
    """The first objective on training over validation (inverted when minimised) above this is overtraining."""
    action: Literal["prune", "penalise"] = "prune"
    """Prune the trial, or scale each objective by threshold / ratio (towards worse)."""


class PruningConfig(Section):
    """When the pruner (``search.pruner``) may stop a trial."""

    min_epochs: int = Field(default=1, ge=1)
    """No trial is pruned before this many epochs (the grace period)."""
    reduction_factor: int = Field(default=3, ge=2)
    """Successive halving / ASHA and hyperband keep one in this many at each rung."""
    max_epochs: int | None = Field(default=None, ge=1)
    """Hyperband's full budget (default: the space's ``max_epochs``)."""
    startup_trials: int = Field(default=3, ge=0)
    """The median pruner waits for this many finished trials."""


class CrossValidationConfig(Section):
    """k-fold cross-validation over the events outside the test split. Either way the kept model
    is the one trained on the search's split (``per_trial``: fold 0), which the summary and the
    exports name."""

    folds: int = Field(default=5, ge=2)
    """Number of folds."""
    by: Literal["random", "event_number"] = "event_number"
    """``event_number``: an event is in fold ``event % folds``; ``random``: a seeded hash."""
    mode: Literal["per_trial", "best_trials"] = "per_trial"
    """``per_trial``: every trial on every fold (its objective the mean; k x the cost of each trial);
    ``best_trials``: search on one split, then the ``best`` best trials on every fold, the best mean kept."""
    best: int = Field(default=5, ge=1)
    """``best_trials``: how many of the search's best are cross-validated."""


class SearchConfig(Section):
    """The hyperparameter search: where trials run, the sampler and pruner, the study's storage."""

    backend: Literal["local", "ray"] = "local"
    """Trials in local worker processes, or on Ray (an embedded local Ray or a cluster)."""
    workers: int | None = Field(default=None, ge=1)
    """Trials side by side (local: worker processes; ray: actors); default one per core this process
    may use (affinity, cgroup); 1: one at a time, the same sequence every run."""
    gpus_per_trial: float = Field(default=0.0, ge=0)
    """GPUs each Ray trial worker asks for (0.25: four small trainings share a GPU); 0: CPU workers."""
    ray_address: str | None = None
    """Join this Ray cluster (``HEAD:6379``, ``ray://HEAD:10001``); else ``RAY_ADDRESS``, else an embedded local Ray."""
    ray_connect_timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait for that address to answer."""
    sampler: Literal["tpe", "random", "cmaes", "gp", "grid", "qmc", "nsga2"] = "tpe"
    """Optuna's sampler, seeded from ``seed`` (reseeded on resume)."""
    population_size: int = Field(default=16, ge=2)
    """``nsga2``: individuals per generation."""
    mutation_prob: float | None = Field(default=None, ge=0, le=1)
    """``nsga2``: mutation probability (default 1 / number of parameters)."""
    crossover_prob: float = Field(default=0.9, ge=0, le=1)
    """``nsga2``: crossover probability."""
    pruner: Literal["none", "median", "hyperband", "successive_halving", "asha"] = "none"
    """Stops unpromising trials after an epoch (``asha``: asynchronous successive halving)."""
    pruning: PruningConfig = PruningConfig()
    """When the pruner may stop a trial."""
    enqueue: list[dict[str, Any]] = []
    """Known-good points, tried first."""
    overtraining: OvertrainingConfig = OvertrainingConfig()
    """Conditions on training vs. validation."""
    cross_validation: CrossValidationConfig | None = None
    """k-fold cross-validation (none: one train/validation split)."""
    executions_per_trial: int = Field(default=1, ge=1)
    """Trainings per trial with seeds seed, seed+1, ... (per fold with cross-validation): the objective
    is their mean, since one training is noisy."""
    bootstrap: int = Field(default=100, ge=0)
    """Poisson-bootstrap replicas for the uncertainty of every reported value (the best model, the
    defaults, the compared families, on validation and test); 0 reports the values alone."""
    n_trials: int = Field(default=20, ge=1)
    """Finished trials the study should hold (a resumed study runs the missing ones)."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds after which no new trial starts."""
    storage: str | None = None
    """An Optuna RDB URL (``sqlite:///...``, ``postgresql://...``) or ``journal:PATH`` (a journal file,
    for shared file systems without working SQLite locks); default SQLite in the output folder."""

    @field_validator("storage")
    @classmethod
    def _storage_kind(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value and not (value.startswith("journal:") and value[8:]):
            msg = "expected an Optuna RDB URL (e.g. sqlite:///study.db) or journal:PATH"
            raise ValueError(msg)
        return value

    @field_validator("gpus_per_trial")
    @classmethod
    def _whole_or_fraction(cls, value: float) -> float:
        if value > 1 and not float(value).is_integer():
            msg = "a fraction of one GPU (e.g. 0.25) or a whole number of GPUs"
            raise ValueError(msg)
        return value


class FinetuneConfig(Section):
    """Population-based training (Ray Tune PBT) after the search, starting from its best trials.

    Members start from the hyperparameters of the best completed trials (cycling through them if
    there are fewer); every ``perturbation_interval`` epochs the worst quarter copies the weights
    of the best quarter and perturbs ``mutations``. With an adversary, every member pre-trains its
    classifier and adversary and then counts ``epochs`` adversarial epochs.
    """

    population: int = Field(default=4, ge=2)
    """Members of the population."""
    epochs: int = Field(default=20, ge=1)
    """Epochs each member trains."""
    perturbation_interval: int = Field(default=2, ge=1)
    """Epochs between exploit/explore steps."""
    mutations: list[Literal["learning_rate", "batch_size", "dropout", "adv_lambda"]] | None = Field(
        default=None, min_length=1
    )
    """The hyperparameters perturbed (default: learning_rate, batch_size, dropout, and adv_lambda
    with an adversary)."""

    def mutated(self, adversarial: bool) -> list[str]:
        """The hyperparameters PBT perturbs."""
        if self.mutations is not None:
            return list(self.mutations)
        return ["learning_rate", "batch_size", "dropout"] + (["adv_lambda"] if adversarial else [])


class EliminateConfig(Section):
    """Backward elimination of input variables (see :mod:`hepopt.elimination`).

    Each iteration scores every remaining variable (or declared group) and drops the least
    important; it stops when the metric falls more than ``tolerance`` below the all-variables
    baseline (and reverts to the last set within it) or at ``min_variables``.
    """

    method: Literal["shuffle", "retrain", "hybrid"] = "hybrid"
    """Importance by shuffling a variable in the trained model, by retraining without it, or
    shuffle first and retrain once ``switch_at`` units remain."""
    switch_at: int = Field(default=10, ge=1)
    """``hybrid``: retrain once this many units or fewer remain."""
    shuffle_repeats: int = Field(default=5, ge=1)
    """Permutations per variable and model."""
    retrain_repeats: int = Field(default=1, ge=1)
    """Trainings (seeds) per variable and fold."""
    drop: int = Field(default=1, ge=1)
    """Units dropped per iteration ..."""
    drop_above: int | None = Field(default=None, ge=1)
    """... while more than this many remain, then one."""
    groups: dict[str, list[str]] = {}
    """Correlated variables scored and dropped together (group name -> variables)."""
    folds: int | None = Field(default=None, ge=2)
    """k-fold importances (events outside the test split)."""
    by: Literal["random", "event_number"] = "event_number"
    """How events are put into those folds."""
    tolerance: float = Field(default=0.01, ge=0)
    """How far the metric may fall below the all-variables baseline."""
    tolerance_type: Literal["relative", "absolute"] = "relative"
    """Whether ``tolerance`` is a fraction of the baseline or an amount."""
    min_variables: int = Field(default=1, ge=1)
    """Never fewer variables than this."""
    objective: ObjectiveConfig | None = None
    """The metric (default: the search's first objective)."""
    params: dict[str, Any] = {}
    """Hyperparameters for the elimination's trainings, over the space's fixed ones."""
    pre_optimize_trials: int = Field(default=0, ge=0)
    """A short search with all variables first (its own ``preoptimize`` stage); its best trains the elimination."""


class ExportConfig(Section):
    """The best model as TorchScript and/or ONNX with a JSON description, in ``export/``."""

    formats: list[Literal["torchscript", "onnx"]] = ["torchscript", "onnx"]
    """The formats written."""


class PlotsConfig(Section):
    """How the plots look: the experiment's mplhep style and label, with the luminosity (from
    ``luminosity``) and the centre-of-mass energy."""

    experiment: Literal["CMS", "ATLAS", "LHCb", "none"] = "none"
    """The experiment whose style and label the plots carry (``none``: mplhep's CMS style, no label)."""
    text: str = "Simulation"
    """The text beside the experiment's name (e.g. ``Simulation Preliminary``, ``Private Work``)."""
    energy: float | None = Field(default=None, gt=0)
    """Centre-of-mass energy in TeV shown in the label (e.g. 13.6); none: not shown."""
