"""The typed, frozen shape of ``hepopt.yaml``.

Unknown keys are rejected everywhere (``extra="forbid"``), so a typo such as ``n_trails`` is an
error naming the key rather than a silently ignored setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator, model_validator


def _as_list(value: Any) -> Any:
    """Let a single file pattern be written as a string."""
    return [value] if isinstance(value, str) else value


FileList = Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]


class _Strict(BaseModel):
    # No unknown keys; no .inf or .nan for a number (a learning rate of inf is not a setting).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DatasetConfig(_Strict):
    """One simulated sample: its files, its role and how its events are weighted.

    With ``cross_section`` set, an event's weight is
    ``luminosity * cross_section * weight / sum(weight over all events before selection)``;
    without it, the ``weight`` expression is taken as the event's expected yield as it is.
    """

    files: FileList
    tree: str = "Events"
    role: Literal["signal", "background"]
    cross_section: float | None = Field(default=None, gt=0)
    weight: str = "1"
    sum_weights: float | None = Field(default=None, gt=0)


class VariedSource(_Strict):
    """The alternative files of one dataset under a systematic variation."""

    files: FileList
    tree: str | None = None


class VariationConfig(_Strict):
    """A systematic variation: alternative files per dataset, or a per-event weight factor.

    ``nuisance`` (file-based variations only) is an expression giving each varied event's value
    of a continuous nuisance parameter (e.g. a branch holding the JES shift it was made with),
    which the ``mdn`` adversary models.
    """

    datasets: dict[str, VariedSource] | None = None
    weight: str | None = None
    applies_to: list[str] | None = None
    nuisance: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> VariationConfig:
        if (self.datasets is None) == (self.weight is None):
            msg = "give either 'datasets' (alternative files) or 'weight' (a weight factor)"
            raise ValueError(msg)
        if self.applies_to is not None and self.weight is None:
            msg = "'applies_to' is only for weight variations"
            raise ValueError(msg)
        if self.nuisance is not None and self.datasets is None:
            msg = "'nuisance' (a per-event value) is only for file-based variations"
            raise ValueError(msg)
        return self


class SplitConfig(_Strict):
    train: float = Field(default=0.6, gt=0, lt=1)
    validation: float = Field(default=0.2, gt=0, lt=1)
    test: float = Field(default=0.2, gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            msg = f"train + validation + test must be 1, got {total:g}"
            raise ValueError(msg)
        return self


class DataConfig(_Strict):
    """How the coffea data stage runs."""

    schema_: Literal["base", "nanoaod"] = Field(default="base", alias="schema")
    executor: Literal["iterative", "futures", "dask"] = "iterative"
    workers: int = Field(default=1, ge=1)  # futures: processes; dask: local-cluster workers
    dask_scheduler: str | None = None  # dask: join this scheduler (tcp://host:8786) instead
    chunksize: int = Field(default=100_000, ge=1)
    event_id: str | None = None
    split: SplitConfig = SplitConfig()
    cache: bool = True

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)


class ParamSpec(_Strict):
    """A searched hyperparameter, as Optuna's ``suggest_*`` take it."""

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: list[Any] | None = None
    # For `units`: one width per hidden layer (units_0, units_1, ...), each sampled only when the
    # sampled depth has that layer (a conditional parameter).
    per_layer: bool = False

    @model_validator(mode="after")
    def _complete(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                msg = "a categorical parameter needs a non-empty 'choices' list"
                raise ValueError(msg)
            return self
        if self.low is None or self.high is None:
            msg = f"an {self.type} parameter needs 'low' and 'high'"
            raise ValueError(msg)
        if self.low > self.high:
            msg = f"'low' ({self.low:g}) is above 'high' ({self.high:g})"
            raise ValueError(msg)
        if self.log and self.low <= 0:
            msg = "a log-uniform parameter needs 'low' > 0"
            raise ValueError(msg)
        if self.log and self.step is not None:
            msg = "'step' and 'log' cannot be combined"
            raise ValueError(msg)
        return self


class ModelConfig(_Strict):
    """The model family (a ``hepopt.models`` entry point such as ``mlp`` or
    ``hist_gradient_boosting``, or ``package.module:Class``) and its search space (a scalar fixes
    a parameter)."""

    family: str = "mlp"
    space: dict[str, ParamSpec | float | int | str | bool] = {}
    # Other families trained once with their defaults on the same splits and scored with the same
    # objectives, reported next to the search's best (e.g. [hist_gradient_boosting]).
    compare: list[str] = []


class TrainingConfig(_Strict):
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    negative_weights: Literal["keep", "abs", "zero"] = "abs"
    # torch threads per training (default 1: trials use the cores side by side, see search.workers)
    threads: int | None = Field(default=None, ge=1)
    # What early stopping watches: the validation loss, or the (first) objective on validation;
    # an epoch counts as better by more than the hyperparameter min_delta, for `patience` epochs.
    early_stopping: Literal["val_loss", "objective"] = "val_loss"


class AdversaryConfig(_Strict):
    """The adversary of adversarial training: which variations it must not be able to tell apart.

    ``kind: classifier`` predicts which variation an event comes from (nominal or one of
    ``variations``); ``kind: mdn`` is the mixture-density adversary of Louppe et al. that models
    the nuisance parameter, here the value per variation given in ``values`` (nominal is 0).
    ``keep: best`` keeps the adversarial epoch with the best search objective on the validation
    split; ``last`` keeps the last one, as in the paper.
    """

    variations: list[str] | None = None
    kind: Literal["classifier", "mdn"] = "classifier"
    values: dict[str, float] = {}
    use_label: bool = True
    components: int = Field(default=5, ge=1)
    keep: Literal["best", "last"] = "best"


class ObjectiveConfig(_Strict):
    name: str = "asimov_significance"
    options: dict[str, Any] = {}


class ConstraintConfig(_Strict):
    """An objective that a classifier must keep within bounds to count (e.g. ``roc_auc``,
    ``min: 0.9``): the sampler steers away from violating trials and the best model is chosen
    among those that satisfy every constraint."""

    name: str
    options: dict[str, Any] = {}
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> ConstraintConfig:
        if self.min is None and self.max is None:
            msg = "give 'min', 'max' or both"
            raise ValueError(msg)
        if self.min is not None and self.max is not None and self.min > self.max:
            msg = f"min ({self.min}) is above max ({self.max})"
            raise ValueError(msg)
        return self


class OvertrainingConfig(_Strict):
    """Conditions on training vs. validation: a trial that breaks one is pruned or penalised.

    ``max_loss_ratio``: validation loss / training loss (both in eval mode, on the best epoch's
    model) above this is overtraining. ``max_objective_ratio``: the first objective on the training
    split over the one on validation (inverted for a minimised objective) above this.
    ``penalise`` scales each objective by threshold / ratio (towards worse) instead of pruning.
    """

    max_loss_ratio: float | None = Field(default=None, gt=0)
    max_objective_ratio: float | None = Field(default=None, gt=0)
    action: Literal["prune", "penalise"] = "prune"


class PruningConfig(_Strict):
    """When the pruner (``search.pruner``) may stop a trial: not before ``min_epochs`` (the grace
    period), after ``startup_trials`` complete trials (median), keeping 1 in ``reduction_factor``
    at each rung (successive halving / ASHA, hyperband) up to ``max_epochs`` (hyperband's full
    budget; default the space's max_epochs)."""

    min_epochs: int = Field(default=1, ge=1)
    reduction_factor: int = Field(default=3, ge=2)
    max_epochs: int | None = Field(default=None, ge=1)
    startup_trials: int = Field(default=3, ge=0)


class CrossValidationConfig(_Strict):
    """k-fold cross-validation over the events outside the test split.

    ``mode: per_trial`` trains every trial on every fold (its objective is the mean; k times the
    cost of every trial). ``mode: best_trials`` searches on the one train/validation split, then
    trains the ``best`` best trials on every fold and keeps the one with the best mean over folds
    (mean ± std reported for each): what most tools do, k x best trainings in all. Either way the
    kept model is the one trained on the search's split (per_trial: fold 0), which the summary and
    the exports name.
    """

    folds: int = Field(default=5, ge=2)
    by: Literal["random", "event_number"] = "event_number"
    mode: Literal["per_trial", "best_trials"] = "per_trial"
    best: int = Field(default=5, ge=1)  # best_trials: how many of the search's best are cross-validated


class SearchConfig(_Strict):
    backend: Literal["local", "ray"] = "local"
    # Trials side by side (local: worker processes; ray: actors), each with training.threads
    # torch threads (default 1); default: one per core this process may use (affinity, cgroup).
    workers: int | None = Field(default=None, ge=1)
    # GPUs each Ray trial worker asks for: a fraction lets several small trainings share one GPU
    # (0.25: four per GPU); a worker given one trains on CUDA. 0: CPU workers.
    gpus_per_trial: float = Field(default=0.0, ge=0)
    ray_address: str | None = None  # join this Ray cluster (else RAY_ADDRESS, else an embedded local Ray)
    ray_connect_timeout: float = Field(default=30.0, gt=0)  # s to wait for that address to answer
    sampler: Literal["tpe", "random", "cmaes", "gp", "grid", "qmc", "nsga2"] = "tpe"
    population_size: int = Field(default=16, ge=2)  # nsga2: individuals per generation
    mutation_prob: float | None = Field(default=None, ge=0, le=1)  # nsga2; default 1 / number of params
    crossover_prob: float = Field(default=0.9, ge=0, le=1)  # nsga2
    pruner: Literal["none", "median", "hyperband", "successive_halving", "asha"] = "none"  # asha: successive_halving
    pruning: PruningConfig = PruningConfig()
    enqueue: list[dict[str, Any]] = []  # known-good points tried first
    overtraining: OvertrainingConfig = OvertrainingConfig()
    cross_validation: CrossValidationConfig | None = None
    # Trainings per trial with seeds seed, seed+1, ... (per fold with cross-validation): the
    # objective is their mean, since one training is noisy.
    executions_per_trial: int = Field(default=1, ge=1)
    n_trials: int = Field(default=20, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    # An Optuna RDB URL (sqlite:///..., postgresql://...) or journal:PATH (a journal file, for
    # clusters whose shared file system has no working SQLite locks); default SQLite in the output.
    storage: str | None = None

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


class FinetuneConfig(_Strict):
    """Population-based training (Ray Tune PBT) after the search, starting from its best trials.

    ``population`` trials start from the hyperparameters of the best completed trials (cycling
    through them if there are fewer) and train for ``epochs``; every ``perturbation_interval``
    epochs the worst quarter copies the weights of the best quarter and perturbs ``mutations``.
    With an adversary, every member pre-trains its classifier and adversary and then counts
    ``epochs`` adversarial epochs; lambda is one of the perturbed hyperparameters.
    """

    population: int = Field(default=4, ge=2)
    epochs: int = Field(default=20, ge=1)
    perturbation_interval: int = Field(default=2, ge=1)
    # default: learning_rate, batch_size, dropout, and adv_lambda when there is an adversary
    mutations: list[Literal["learning_rate", "batch_size", "dropout", "adv_lambda"]] | None = Field(
        default=None, min_length=1
    )

    def mutated(self, adversarial: bool) -> list[str]:
        """The hyperparameters PBT perturbs."""
        if self.mutations is not None:
            return list(self.mutations)
        return ["learning_rate", "batch_size", "dropout"] + (["adv_lambda"] if adversarial else [])


class EliminateConfig(_Strict):
    """Backward elimination of input variables (see :mod:`hepopt.elimination`).

    Each iteration scores every remaining variable (or declared group) and drops the least
    important; it stops when the metric falls more than ``tolerance`` below the all-variables
    baseline (and reverts to the last set within it) or at ``min_variables``.
    """

    method: Literal["shuffle", "retrain", "hybrid"] = "hybrid"
    switch_at: int = Field(default=10, ge=1)  # hybrid: retrain once this many units or fewer remain
    shuffle_repeats: int = Field(default=5, ge=1)  # permutations per variable and model
    retrain_repeats: int = Field(default=1, ge=1)  # trainings (seeds) per variable and fold
    drop: int = Field(default=1, ge=1)  # units dropped per iteration ...
    drop_above: int | None = Field(default=None, ge=1)  # ... while more than this many remain, then one
    groups: dict[str, list[str]] = {}  # correlated variables scored and dropped together
    folds: int | None = Field(default=None, ge=2)  # k-fold importances (events outside the test split)
    by: Literal["random", "event_number"] = "event_number"
    tolerance: float = Field(default=0.01, ge=0)
    tolerance_type: Literal["relative", "absolute"] = "relative"
    min_variables: int = Field(default=1, ge=1)
    objective: ObjectiveConfig | None = None  # default: the search's (first) objective
    params: dict[str, Any] = {}  # hyperparameters for the elimination, over the space's fixed ones
    pre_optimize_trials: int = Field(default=0, ge=0)  # a short search with all variables first


class ExportConfig(_Strict):
    """The best model as TorchScript and/or ONNX with a JSON description, in ``export/``."""

    formats: list[Literal["torchscript", "onnx"]] = ["torchscript", "onnx"]


class HepoptConfig(_Strict):
    """The whole ``hepopt.yaml``."""

    name: str = Field(default="hepopt", pattern=r"^[A-Za-z0-9_.-]+$")
    output: str = "results"
    seed: int = 42
    luminosity: float | None = Field(default=None, gt=0)
    datasets: dict[str, DatasetConfig] = Field(min_length=1)
    variations: dict[str, VariationConfig] = {}
    features: list[str | dict[str, str]] = Field(min_length=1)
    selection: str | None = None
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    adversary: AdversaryConfig | None = None
    objective: ObjectiveConfig = ObjectiveConfig()
    objectives: list[ObjectiveConfig] | None = Field(default=None, min_length=2)
    constraints: list[ConstraintConfig] = []
    search: SearchConfig = SearchConfig()
    finetune: FinetuneConfig | None = None
    eliminate: EliminateConfig | None = None
    export: ExportConfig | None = ExportConfig()  # export: null writes no export files
    # The stages hepopt optimize runs, in order (default: those of prepare, preoptimize, eliminate,
    # optimize, finetune, export whose sections are configured); plugins add their own names.
    stages: list[str] | None = Field(default=None, min_length=1)

    @field_validator("features")
    @classmethod
    def _one_name_per_feature(cls, features: list[str | dict[str, str]]) -> list[str | dict[str, str]]:
        for entry in features:
            if isinstance(entry, dict) and len(entry) != 1:
                msg = f"each feature is an expression or one 'name: expression' (or 'callable: pkg.mod:func'), got {entry}"
                raise ValueError(msg)
            if isinstance(entry, str) and not entry.strip():
                msg = "a feature expression is empty"
                raise ValueError(msg)
        return features

    _source: Path = PrivateAttr(default=Path("hepopt.yaml"))
    _search_folder: str = PrivateAttr(default="optimize")

    def set_source(self, source: Path) -> None:
        """Remember the file this config came from (relative paths resolve against its folder)."""
        self._source = source

    @property
    def source(self) -> Path:
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent

    @property
    def output_dir(self) -> Path:
        return self.base_dir / self.output

    @property
    def search_dir(self) -> Path:
        """Where a search keeps its study, trial models, tables and plots: the optimize stage's
        folder (the pre-optimisation's copy of the config points elsewhere)."""
        return self.output_dir / self._search_folder

    def for_search_in(self, folder: str, name: str) -> HepoptConfig:
        """This config for a search of its own (another study name, another folder)."""
        copy = self.model_copy(update={"name": name})
        copy._search_folder = folder
        return copy

    def objective_configs(self) -> list[ObjectiveConfig]:
        """The objectives to optimise: several for a multi-objective study, else the one."""
        return list(self.objectives) if self.objectives else [self.objective]

    def objective_keys(self) -> list[tuple[str, ObjectiveConfig]]:
        """The objectives to optimise with the config key each comes from (for error messages)."""
        if self.objectives:
            return [(f"objectives.{i}", o) for i, o in enumerate(self.objectives)]
        return [("objective", self.objective)]

    def feature_entries(self) -> list[tuple[str, str]]:
        """The features as ``(kind, text)`` pairs, kind being 'expr:NAME' or 'callable'."""
        entries = []
        for entry in self.features:
            if isinstance(entry, str):
                entries.append((f"expr:{entry}", entry))
            else:
                key, value = next(iter(entry.items()))
                entries.append(("callable", value) if key == "callable" else (f"expr:{key}", value))
        return entries
