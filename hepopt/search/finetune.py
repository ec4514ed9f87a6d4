"""Population-based fine-tuning after the search (as OPTIMA does): Ray Tune PBT.

The population shares the architecture of the best trial (PBT copies weights between members)
and starts from the trainable hyperparameters (learning rate, batch size, dropout) of the best
trials. Every ``perturbation_interval`` epochs the worst quarter copies the weights and
hyperparameters of the best quarter and perturbs them. Members report the search objective on the
validation split after each epoch; the best checkpoint is compared with the best search trial on
the same validation and test splits. The adversary strength is not mutated (adversarial training
is not resumable epoch by epoch yet).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from hepopt.config.schema import HepoptConfig
    from hepopt.search.space import SearchSpace
    from hepopt.search.trial import TrialRunner

_STATE = "state.pt"


@dataclass(frozen=True)
class FinetuneResult:
    validation: float
    test: float
    params: dict[str, Any]
    search_validation: float
    search_test: float
    model_path: Path


def _member(config: dict[str, Any], runner: TrialRunner, starts: list[dict[str, Any]], epochs: int) -> None:
    """One PBT member: (re)builds its model, restores its checkpoint, trains epoch by epoch."""
    import torch
    from ray import tune
    from torch import nn

    from hepopt.training.mlp import build_mlp
    from hepopt.training.params import TrainParams
    from hepopt.training.trainer import train_epoch

    torch.set_num_threads(1)
    values = {
        **starts[config["start"]],
        **{k: config[k] for k in ("learning_rate", "batch_size", "dropout") if k in config},
    }
    params = TrainParams.from_mapping(values)
    # Dropout layers always exist (p may be ~0) so that every member has the same modules.
    model = build_mlp(len(runner.sets.feature_names), replace(params, dropout=max(params.dropout, 1e-9)))
    torch.manual_seed(runner.seed + config["start"])
    optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate, betas=(params.beta1, params.beta2))
    epoch = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / _STATE, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch = int(state["epoch"])
    for group in optimizer.param_groups:  # PBT may have changed them since the checkpoint
        group["lr"] = params.learning_rate
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = params.dropout
    train = runner.sets.train.batchable(params.signal_weight, runner.negative_weights)
    penalised = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    while epoch < epochs:
        shuffle = torch.Generator().manual_seed(runner.seed * 1000 + epoch)
        train_epoch(model, optimizer, train, params, shuffle, penalised)
        epoch += 1
        value = runner.validation_value(model, params)
        with tempfile.TemporaryDirectory() as folder:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
            torch.save(state, Path(folder) / _STATE)
            tune.report(
                {"objective": value if math.isfinite(value) else -math.inf, "epoch": epoch},
                checkpoint=tune.Checkpoint.from_directory(folder),
            )


def finetune(config: HepoptConfig, space: SearchSpace, runner: TrialRunner, study: optuna.Study) -> FinetuneResult:
    """Run PBT from the best trials of ``study`` and compare its best model with the best trial."""
    import torch
    from optuna.trial import TrialState
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    from hepopt.search.ray_backend import ensure_ray
    from hepopt.search.study import model_path, trial_params
    from hepopt.training.classifier import Classifier
    from hepopt.training.params import TrainParams

    settings = config.finetune
    if settings is None:
        msg = "finetune: the config has no 'finetune' section"
        raise ValueError(msg)
    direction = runner.objectives[0].direction
    done = sorted(
        study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
        key=lambda t: t.values[0],
        reverse=direction == "maximize",
    )
    best = done[0]
    architecture = trial_params(space, best)
    starts = [
        {**architecture, **{k: trial_params(space, done[i % len(done)])[k] for k in settings.mutations}}
        for i in range(settings.population)
    ]
    low_lr = min(s["learning_rate"] for s in starts) / 3
    high_lr = max(s["learning_rate"] for s in starts) * 3
    mutations = {
        "learning_rate": tune.loguniform(low_lr, high_lr),
        "batch_size": [128, 256, 512, 1024, 2048],
        "dropout": tune.uniform(0.0, 0.5),
    }
    scheduler = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=settings.perturbation_interval,
        hyperparam_mutations={k: mutations[k] for k in settings.mutations},
    )
    param_space: dict[str, Any] = {"start": tune.grid_search(list(range(settings.population)))}
    for key in settings.mutations:
        param_space[key] = tune.sample_from(lambda spec, key=key: starts[spec.config.start][key])
    ensure_ray(config)
    out = config.output_dir / "finetune"
    tuner = tune.Tuner(
        tune.with_parameters(_member, runner=runner, starts=starts, epochs=settings.epochs),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            scheduler=scheduler, metric="objective", mode="max" if direction == "maximize" else "min"
        ),
        run_config=tune.RunConfig(storage_path=str(out.resolve()), name="pbt", verbose=0),
    )
    results = tuner.fit()
    mode = "max" if direction == "maximize" else "min"
    best_result = results.get_best_result(metric="objective", mode=mode, scope="all")
    checkpoint = best_result.get_best_checkpoint(metric="objective", mode=mode)
    with checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / _STATE, weights_only=True)
    final = {**starts[best_result.config["start"]], **{k: best_result.config[k] for k in settings.mutations}}
    # The members' dropout layers exist even at p ~ 0; keeping p > 0 makes Classifier.load rebuild them.
    params = replace(TrainParams.from_mapping(final), dropout=max(final["dropout"], 1e-9))
    from hepopt.training.mlp import build_mlp

    model = build_mlp(len(runner.sets.feature_names), params)
    model.load_state_dict(state["model"])
    model.eval()
    classifier = Classifier(model, runner.sets.scaler, runner.sets.feature_names, params)
    path = config.output_dir / "finetuned_model.pt"
    classifier.save(path)
    best_search = Classifier.load(model_path(config, best))
    return FinetuneResult(
        validation=runner.score(classifier, "validation")[0].value,
        test=runner.score(classifier, "test")[0].value,
        params=params.to_dict(),
        search_validation=float(best.values[0]),
        search_test=runner.score(best_search, "test")[0].value,
        model_path=path,
    )
