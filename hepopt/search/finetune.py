"""Population-based fine-tuning after the search (as OPTIMA does): Ray Tune PBT.

The population shares the architecture of the best trial (PBT copies weights between members)
and starts from the trainable hyperparameters (learning rate, batch size, dropout, adversary
strength lambda) of the best trials. Every ``perturbation_interval`` epochs (synchronously: once
every member got there) the worst quarter copies the weights (with an adversary: both networks
and their optimisers) and hyperparameters of the best quarter and perturbs them. Members report the search objective on the validation split
after each epoch; the best checkpoint is compared with the best search trial on the same
validation and test splits.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepopt.models.params import TrainParams
from hepopt.search.constraints import ranked_trials
from hepopt.training.trainer import build_model

if TYPE_CHECKING:
    import optuna

    from hepopt.config.schema import HepoptConfig
    from hepopt.scoring.trial import TrialRunner
    from hepopt.search.space import SearchSpace

_STATE = "state.pt"
MUTABLE = ("learning_rate", "batch_size", "dropout", "adv_lambda")


@dataclass(frozen=True)
class FinetuneResult:
    validation: float
    test: float
    params: dict[str, Any]
    search_validation: float
    search_test: float
    model_path: Path


def _member(
    config: dict[str, Any],
    runner: TrialRunner,
    starts: list[dict[str, Any]],
    epochs: int,
    adversarial: bool,
    history: str,
) -> None:
    """One PBT member: (re)builds its model, restores its checkpoint, trains epoch by epoch, and
    appends each epoch (with the hyperparameters it had) to its file in ``history``."""
    import json

    import torch
    from ray import tune

    torch.set_num_threads(1)
    mutable = {k: config[k] for k in MUTABLE if k in config}
    values = {**starts[config["start"]], **mutable}
    member_id = tune.get_context().get_trial_id()
    params = _with_dropout_layers(TrainParams.from_mapping(values))
    torch.manual_seed(runner.seed + config["start"])
    checkpoint = tune.get_checkpoint()
    state = None
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / _STATE, weights_only=True)
    member = _AdversarialMember(runner, params, state) if adversarial else _PlainMember(runner, params, state)
    epoch = 0 if state is None else int(state["epoch"])
    while epoch < epochs:
        member.epoch(torch.Generator().manual_seed(runner.seed * 1000 + epoch))
        epoch += 1
        metrics = {"epoch": epoch, **member.metrics()}
        value = runner.validation_value(member.model, params)
        line = {"member": member_id, "start": config["start"], "objective": value, **metrics, **mutable}
        with (Path(history) / f"{member_id}.jsonl").open("a") as log:
            log.write(json.dumps(line) + "\n")
        with tempfile.TemporaryDirectory() as folder:
            # The hyperparameters it was trained with: PBT may change the member's config later.
            torch.save({**member.state_dict(), "epoch": epoch, "mutable": mutable}, Path(folder) / _STATE)
            tune.report(
                {"objective": value if math.isfinite(value) else -math.inf, **metrics},
                checkpoint=tune.Checkpoint.from_directory(folder),
            )


class _PlainMember:
    """Plain training, an epoch at a time, from scratch or a checkpoint."""

    def __init__(self, runner: TrialRunner, params: TrainParams, state: dict[str, Any] | None) -> None:
        from torch import nn

        from hepopt.training.optimizers import make_optimizer

        self.params = params
        self.model = build_model(len(runner.sets.feature_names), params)
        self.optimizer = make_optimizer(self.model.parameters(), params)
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:  # PBT may have changed them since the checkpoint
            group["lr"] = params.learning_rate
        _set_dropout(self.model, params)
        self.train = runner.sets.train.batchable(params.signal_weight, runner.negative_weights)
        self.penalised = [m.weight for m in self.model.modules() if isinstance(m, nn.Linear)]

    def epoch(self, shuffle: Any) -> None:
        from hepopt.training.trainer import train_epoch

        train_epoch(self.model, self.optimizer, self.train, self.params, shuffle, self.penalised)

    def metrics(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}


class _AdversarialMember:
    """The adversarial game, an epoch at a time: a new member pre-trains its classifier and its
    adversary first (as a search trial does); lambda and the learning rates may change between
    epochs."""

    def __init__(self, runner: TrialRunner, params: TrainParams, state: dict[str, Any] | None) -> None:
        from hepopt.training.adversarial import AdversarialGame
        from hepopt.training.trainer import train_classifier

        train = runner.sets.train.batchable(params.signal_weight, runner.negative_weights)
        self.val = runner.sets.validation.batchable(params.signal_weight, runner.negative_weights)
        adv_train, self.adv_val = runner.adversary_data
        spec = runner.adversary
        if state is None:
            model = train_classifier(params, train, self.val, seed=runner.seed).model
        else:
            model = build_model(len(runner.sets.feature_names), params)
        self.game = AdversarialGame(model, params, train, adv_train, spec, runner.seed)  # type: ignore[arg-type]
        if state is None:
            self.game.pretrain_adversary()
        else:
            self.game.load_state_dict(state)
        self.game.set_params(params)
        _set_dropout(model, params)
        self.model = model

    def epoch(self, shuffle: Any) -> None:
        self.game.epoch()

    def metrics(self) -> dict[str, float]:
        val_clf, val_adv = self.game.validation_losses(self.val, self.adv_val)
        return {"val_loss": val_clf, "adv_loss": val_adv}

    def state_dict(self) -> dict[str, Any]:
        return self.game.state_dict()


def _with_dropout_layers(params: TrainParams) -> TrainParams:
    """Dropout layers always exist (p may be ~0) so that every member has the same modules (for
    a family with a ``dropout`` parameter)."""
    if "dropout" not in params.arch:
        return params
    return params.replace_arch(dropout=max(params.arch["dropout"], 1e-9))


def _set_dropout(model: Any, params: TrainParams) -> None:
    from torch import nn

    if "dropout" not in params.arch:
        return
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = params.arch["dropout"]


def _start_value(starts: list[dict[str, Any]], key: str) -> Callable[[Any], Any]:
    """A member's starting value of ``key``: that of the search trial it starts from."""

    def value(spec: Any) -> Any:
        return starts[spec.config.start][key]

    return value


def finetune(config: HepoptConfig, space: SearchSpace, runner: TrialRunner, study: optuna.Study) -> FinetuneResult:
    """Run PBT from the best trials of ``study`` and compare its best model with the best trial."""
    import torch
    from optuna.trial import TrialState
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    from hepopt.search.ray_backend import ensure_ray
    from hepopt.search.study import model_path, trial_params
    from hepopt.training.classifier import Classifier

    settings = config.finetune
    if settings is None:
        msg = "finetune: the config has no 'finetune' section"
        raise ValueError(msg)
    direction = runner.objectives[0].direction
    done = ranked_trials(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), direction, runner.constraints)
    best = done[0]
    architecture = trial_params(space, best)
    adversarial = runner.adversary is not None and (
        "adv_lambda" in settings.mutated(True) or architecture.get("adv_lambda", 0.0) > 0
    )
    mutated = settings.mutated(adversarial)
    starts = [
        {**architecture, **{k: trial_params(space, done[i % len(done)])[k] for k in mutated}}
        for i in range(settings.population)
    ]
    mutations = _mutation_ranges(starts, mutated)
    scheduler = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=settings.perturbation_interval,
        hyperparam_mutations=mutations,
        # Every member reaches each interval before the worst copy the best: the same seeds give
        # the same perturbations, and a small population is perturbed every time.
        synch=True,
    )
    param_space: dict[str, Any] = {"start": tune.grid_search(list(range(settings.population)))}
    for key in mutated:
        param_space[key] = tune.sample_from(_start_value(starts, key))
    ensure_ray(config)
    out = config.output_dir / "finetune"
    history = out / "history"
    shutil.rmtree(history, ignore_errors=True)
    history.mkdir(parents=True)
    member = tune.with_parameters(
        _member, runner=runner, starts=starts, epochs=settings.epochs, adversarial=adversarial, history=str(history)
    )
    tuner = tune.Tuner(
        member,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            scheduler=scheduler, metric="objective", mode="max" if direction == "maximize" else "min"
        ),
        run_config=tune.RunConfig(storage_path=str(out.resolve()), name="pbt", verbose=0),
    )
    results = tuner.fit()
    _write_history(history, out / "history.csv")
    mode = "max" if direction == "maximize" else "min"
    best_result = results.get_best_result(metric="objective", mode=mode, scope="all")
    checkpoint = best_result.get_best_checkpoint(metric="objective", mode=mode)
    assert checkpoint is not None
    assert best_result.config is not None
    with checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / _STATE, weights_only=True)
    final = {**starts[best_result.config["start"]], **state["mutable"]}  # the checkpoint's, not the last
    # The members' dropout layers exist even at p ~ 0; keeping p > 0 makes Classifier.load rebuild them.
    params = _with_dropout_layers(TrainParams.from_mapping(final))
    model = build_model(len(runner.sets.feature_names), params)
    model.load_state_dict(state["model"])
    model.eval()
    classifier = Classifier(model, runner.sets.scaler, runner.sets.feature_names, params)
    path = out / "finetuned_model.pt"
    classifier.save(path)
    best_search = Classifier.load(model_path(config, best), family=config.model.family)
    return FinetuneResult(
        validation=runner.score(classifier, "validation")[0].value,
        test=runner.score(classifier, "test")[0].value,
        params=params.to_dict(),
        search_validation=float(best.values[0]),
        search_test=runner.score(best_search, "test")[0].value,
        model_path=path,
    )


def _mutation_ranges(starts: list[dict[str, Any]], mutated: list[str]) -> dict[str, Any]:
    """Where PBT may resample each hyperparameter: around the starting values, log-uniform for
    the learning rate and lambda (a start at lambda = 0 resamples from 0.1 up)."""
    from ray import tune

    def log_range(values: list[float], floor: float) -> Any:
        positive = [v for v in values if v > 0] or [floor]
        return tune.loguniform(max(min(positive) / 3, floor / 10), max(positive) * 3)

    ranges = {
        "learning_rate": lambda: log_range([s["learning_rate"] for s in starts], 1e-6),
        "batch_size": lambda: [128, 256, 512, 1024, 2048],
        "dropout": lambda: tune.uniform(0.0, 0.5),
        "adv_lambda": lambda: log_range([s["adv_lambda"] for s in starts], 0.1),
    }
    return {key: ranges[key]() for key in mutated}


def _write_history(folder: Path, path: Path) -> None:
    """All members' epochs, one row each (member, start, epoch, objective, losses, hyperparameters)."""
    import csv
    import json

    rows = [json.loads(line) for file in sorted(folder.glob("*.jsonl")) for line in file.read_text().splitlines()]
    rows.sort(key=lambda row: (row["member"], row["epoch"]))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        writer.writeheader()
        writer.writerows(rows)
