"""The config resolved once into what every stage uses: the search space, the objectives and
constraints, the device and the training threads, and how training sets and trial runners are
made from the event table.

:func:`make_plan` also finds the mistakes that need no data, before any file is read. Every stage
builds its training sets through the plan, so the pre-optimisation, the elimination and the search
train on the same device with the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepopt.config.schema import HepoptConfig
from hepopt.errors import ConfigError, HepoptError, TrainingError

if TYPE_CHECKING:
    from hepopt.data.table import EventTable
    from hepopt.objectives.base import Objective
    from hepopt.scoring.constraints import Constraint
    from hepopt.scoring.trial import TrialRunner
    from hepopt.search.space import SearchSpace
    from hepopt.training.inference_aware_sets import AwareSpec
    from hepopt.training.sets import TrainingSets

Fold = tuple[int, int, str]  # (number of folds, this fold, the column that splits them)


@dataclass(frozen=True)
class Plan:
    """What the config asks for, each object built once (see :func:`make_plan`)."""

    config: HepoptConfig
    space: SearchSpace
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    device: str  # "cpu" or "cuda": ``training.device: auto`` resolved
    threads: int  # torch threads per training
    keep_by: Objective | None = None  # adversary.keep_by: what picks the adversarial epoch kept

    def training_sets(self, table: EventTable, fold: Fold | None = None) -> TrainingSets:
        """The train/validation/test split of ``table`` (or one cross-validation fold) on the device."""
        from hepopt.training.sets import TrainingSets

        rule = self.config.data.split.rule()
        return TrainingSets.from_table(table, rule, self.config.seed, self.device, fold=fold)

    def runners(
        self,
        table: EventTable,
        variables: list[str] | None,
        folds: list[Fold | None],
        executions: int = 1,
        objectives: tuple[Objective, ...] | None = None,
    ) -> list[TrialRunner]:
        """A trial runner per fold and seed (``executions``), on ``variables`` (all when None)."""
        from hepopt.scoring.trial import TrialRunner
        from hepopt.training.adversary import spec_from_config

        config = self.config
        adversary = spec_from_config(config.adversary, table.systematic_names) if config.adversary else None
        augment = config.training.train_on_variations
        augmented = table.systematic_names if augment is True else tuple(augment or ())
        aware = self.aware_spec()
        runners = []
        for fold in folds:
            sets = self.training_sets(table, fold)
            if variables is not None:  # the variables the elimination kept
                sets = sets.select(variables)
            for k in range(executions):  # the same data, another seed
                runners.append(
                    TrialRunner(
                        sets,
                        objectives or self.objectives,
                        config.training.negative_weights,
                        config.seed + k,
                        adversary,
                        self.constraints,
                        config.training.early_stopping,
                        self.keep_by,
                        augmented,
                        aware,
                    )
                )
        return runners

    def aware_spec(self) -> AwareSpec:
        """The inference-aware loss's model (see :func:`hepopt.training.inference_aware_sets.spec_from_config`)."""
        from hepopt.training.inference_aware_sets import spec_from_config

        return spec_from_config(self.config.training.inference_aware, self.objectives)

    def search_runner(self, table: EventTable, variables: list[str] | None) -> Any:
        """The search's runner: one training per trial, or the mean over cross-validation folds
        (``mode: per_trial``) and/or ``executions_per_trial`` seeds."""
        cv = self.config.search.cross_validation
        per_trial = cv is not None and cv.mode == "per_trial"
        folds: list[Fold | None] = self.folds() if per_trial else [None]
        runners = self.runners(table, variables, folds, self.config.search.executions_per_trial)
        if len(runners) == 1:
            return runners[0]
        from hepopt.scoring.cross_validation import AveragedRunner

        return AveragedRunner(tuple(runners))

    def folds(self) -> list[Fold | None]:
        """The cross-validation folds of ``search.cross_validation`` (one unsplit set without it)."""
        cv = self.config.search.cross_validation
        return [None] if cv is None else [(cv.folds, i, cv.by) for i in range(cv.folds)]


def make_plan(config: HepoptConfig | str | Path, stage_names: tuple[str, ...] | None = None) -> Plan:
    """Load (when given a path) and resolve the config; ``stage_names``: the stages that will run
    (without them: the config's ``stages``, or a ``finetune`` stage when it has a ``finetune`` section).

    Raises:
        ConfigError: a mistake found without data (space, grid, enqueued points, objectives that
            need variations, fine-tuning of a family that is not trained by gradient descent).
        TrainingError: ``training.device: cuda`` without a CUDA device.
    """
    from hepopt.runtime.cpus import training_threads
    from hepopt.search.space import SearchSpace

    if not isinstance(config, HepoptConfig):
        from hepopt.config.loader import load_config

        config = load_config(config)
    space = SearchSpace.from_config(config.model, str(config.source))
    if stage_names is None:
        stage_names = tuple(config.stages) if config.stages is not None else ("finetune",) * bool(config.finetune)
    _check_hyperparameters(config, space, stage_names)
    _check_extras(config, stage_names)
    objectives, constraints, keep_by = checked_objectives(config)
    threads = training_threads(config.training.threads)
    return Plan(config, space, objectives, constraints, _device(config), threads, keep_by)


def checked_objectives(
    config: HepoptConfig,
) -> tuple[tuple[Objective, ...], tuple[Constraint, ...], Objective | None]:
    """The config's objectives, constraints and ``adversary.keep_by``, each built once and checked.

    Raises:
        ConfigError: an unknown objective or a bad option, or one that needs systematic variations
            the config does not have (naming its key).
    """
    from hepopt.objectives.registry import make_objective
    from hepopt.scoring.constraints import constraints_from_config

    keyed = [(key, make_objective(o.name, o.options, key=key)) for key, o in config.objective_keys()]
    constraints = constraints_from_config(config)
    scored = keyed + [(f"constraints.{i}", c.objective) for i, c in enumerate(constraints)]
    keep_by = None
    if config.adversary is not None and config.adversary.keep_by is not None:
        chosen = config.adversary.keep_by
        keep_by = make_objective(chosen.name, chosen.options, key="adversary.keep_by")
        scored.append(("adversary.keep_by", keep_by))
    for key, objective in scored:
        if "variations" in objective.needs and not config.variations:
            msg = f"{config.source}: {key}: '{objective.name}' needs systematic variations, but the config has no 'variations'"
            raise ConfigError(msg)
    return tuple(objective for _, objective in keyed), constraints, keep_by


def _check_extras(config: HepoptConfig, stage_names: tuple[str, ...]) -> None:
    """The optional dependencies the run will need, named before any work starts."""
    from hepopt.runtime.extras import require

    source = config.source
    if config.search.backend == "ray":
        require("ray", f"{source}: search.backend: ray")
    if "finetune" in stage_names:
        require("ray", f"{source}: finetune (population-based training with Ray Tune)")
    if (config.search.storage or "").startswith("postgresql"):
        require("postgres", f"{source}: search.storage: postgresql")
    export = config.export
    if (
        "export" in stage_names
        and export is not None
        and "onnx" in export.formats
        and "formats" in export.model_fields_set
    ):
        require("export", f"{source}: export.formats: onnx")


def _check_hyperparameters(config: HepoptConfig, space: SearchSpace, stage_names: tuple[str, ...]) -> None:
    from hepopt.models import model_family
    from hepopt.models.params import TrainParams

    source = config.source
    for i, family in enumerate(config.model.compare):
        try:
            TrainParams.from_mapping({"family": family})
        except HepoptError as err:
            msg = f"{source}: model.compare.{i}: {err}"
            raise ConfigError(msg) from err
    if config.search.sampler == "grid":
        space.grid(str(source))
    for i, point in enumerate(config.search.enqueue):
        space.check_point(point, f"{source}: search.enqueue.{i}")
    if config.eliminate is not None:
        unknown = sorted(set(config.eliminate.params) - set(TrainParams.names()))
        if unknown:
            msg = (
                f"{source}: eliminate.params: unknown hyperparameter(s) {unknown}; known: {sorted(TrainParams.names())}"
            )
            raise ConfigError(msg)
    # A family that is fit, not trained by gradient descent (the boosted trees), has no
    # population-based fine-tuning (nor adversarial training: adv_lambda is not in its space).
    if "finetune" in stage_names and not model_family(config.model.family).gradient_trained:
        msg = (
            f"{source}: model.family: '{config.model.family}' is fit, not trained by gradient descent: "
            "fine-tuning needs a torch-trained family such as mlp"
        )
        raise ConfigError(msg)
    # Population-based fine-tuning trains with the cross-entropy loss: it would carry an
    # inference-aware network on with another loss than the one that made it.
    if "finetune" in stage_names and config.model.may_set("loss", "inference_aware"):
        msg = (
            f"{source}: model.space.loss: population-based fine-tuning trains with the cross-entropy loss; "
            "an inference-aware network is trained by its trial (ia_epochs): drop the finetune stage or the choice"
        )
        raise ConfigError(msg)


def _device(config: HepoptConfig) -> str:
    import torch

    if config.training.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.training.device == "cuda" and not torch.cuda.is_available():
        msg = "training.device: 'cuda' asked for but torch sees no CUDA device; use 'cpu' or 'auto'"
        raise TrainingError(msg)
    return config.training.device
