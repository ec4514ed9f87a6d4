"""Declarative search spaces: conditional per-layer widths sampled only up to the sampled depth."""

from __future__ import annotations

import optuna
import pytest
from torch import nn

from hepopt.config import config_from_dict
from hepopt.errors import ConfigError
from hepopt.models.params import TrainParams
from hepopt.search.space import SearchSpace
from hepopt.search.study import trial_params
from hepopt.training.trainer import build_model

BASE = {
    "luminosity": 1.0,
    "datasets": {"s": {"files": "s.root", "role": "signal"}, "b": {"files": "b.root", "role": "background"}},
    "features": ["x"],
}
PER_LAYER = {
    "n_layers": {"type": "int", "low": 1, "high": 4},
    "units": {"type": "int", "low": 8, "high": 128, "log": True, "per_layer": True},
    "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
}


def space_of(model_space: dict) -> SearchSpace:
    return SearchSpace.from_config(
        config_from_dict({**BASE, "model": {"space": model_space}}, "cfg.yaml").model, "cfg.yaml"
    )


def test_per_layer_widths_exist_only_up_to_the_depth() -> None:
    space = space_of(PER_LAYER)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    depths = set()
    for _ in range(40):
        trial = study.ask()
        params = space.sample(trial)
        depth = trial.params["n_layers"]
        depths.add(depth)
        assert {k for k in trial.params if k.startswith("units_")} == {f"units_{i}" for i in range(depth)}
        assert params.arch["layer_units"] == tuple(trial.params[f"units_{i}"] for i in range(depth))
        linear = [m for m in build_model(5, params) if isinstance(m, nn.Linear)]
        assert [m.out_features for m in linear] == [*params.arch["layer_units"], 1]
        study.tell(trial, float(sum(params.arch["layer_units"])))
        frozen = study.trials[-1]
        assert TrainParams.from_mapping(trial_params(space, frozen)) == params  # the finished trial's params rebuild it
    assert depths == {1, 2, 3, 4}


def test_without_per_layer_every_layer_has_units() -> None:
    params = TrainParams.from_mapping({"n_layers": 3, "units": 20})
    linear = [m for m in build_model(5, params) if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linear] == [20, 20, 20, 1]
    with pytest.raises(ValueError, match="layer_units"):
        TrainParams.from_mapping({"n_layers": 2, "layer_units": (8, 8, 8)})


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"dropout": {"type": "float", "low": 0, "high": 0.3, "per_layer": True}},
            r"model\.space\.dropout: 'per_layer' is for the int parameter 'units'",
        ),
    ],
)
def test_per_layer_errors_name_the_parameter(space: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        space_of(space)


def test_grid_and_enqueue_with_per_layer_widths() -> None:
    space = space_of(PER_LAYER)
    with pytest.raises(ConfigError, match=r"model\.space\.units: the grid sampler cannot walk per-layer widths"):
        space.grid("cfg.yaml")
    space.check_point({"n_layers": 2, "units_0": 64, "units_1": 16}, "search.enqueue.0")
    with pytest.raises(ConfigError, match=r"search\.enqueue\.0: units = 512 is outside its search range"):
        space.check_point({"units_1": 512}, "search.enqueue.0")
