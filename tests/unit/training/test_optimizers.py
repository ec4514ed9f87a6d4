"""Optimiser and learning-rate schedule choice: the torch objects built, the schedule's learning
rate against its closed form, and a real training with each optimiser."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hepopt.config import config_from_dict
from hepopt.errors import ConfigError
from hepopt.search.space import SearchSpace
from hepopt.training import Batchable, TrainParams, train_classifier
from hepopt.training.optimizers import make_optimizer, make_schedule


def test_each_optimizer_is_built_with_its_settings() -> None:
    layer = torch.nn.Linear(3, 1)
    adam = make_optimizer(layer.parameters(), TrainParams(learning_rate=0.01, beta1=0.8))
    assert type(adam) is torch.optim.Adam
    assert adam.defaults["betas"] == (0.8, 0.999)
    adamw = make_optimizer(layer.parameters(), TrainParams(optimizer="adamw", weight_decay=0.05))
    assert type(adamw) is torch.optim.AdamW
    assert adamw.defaults["weight_decay"] == 0.05
    sgd = make_optimizer(layer.parameters(), TrainParams(optimizer="sgd", momentum=0.7, learning_rate=0.1))
    assert type(sgd) is torch.optim.SGD
    assert (sgd.defaults["momentum"], sgd.defaults["nesterov"], sgd.defaults["lr"]) == (0.7, True, 0.1)
    plain = make_optimizer(layer.parameters(), TrainParams(optimizer="sgd", momentum=0.0))
    assert plain.defaults["nesterov"] is False
    rms = make_optimizer(layer.parameters(), TrainParams(optimizer="rmsprop", momentum=0.5))
    assert type(rms) is torch.optim.RMSprop
    assert rms.defaults["momentum"] == 0.5


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("constant", lambda k: 0.1),
        ("cosine", lambda k: 0.1 * (1 + math.cos(math.pi * k / 8)) / 2),
        ("step", lambda k: 0.1 * 0.5 ** (k // 3)),
    ],
)
def test_schedules_follow_their_formula(schedule: str, expected: object) -> None:
    params = TrainParams(learning_rate=0.1, lr_schedule=schedule, max_epochs=8, lr_step=3, lr_decay=0.5)
    optimizer = make_optimizer(torch.nn.Linear(2, 1).parameters(), params)
    scheduler = make_schedule(optimizer, params)
    for epoch in range(8):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(expected(epoch))  # type: ignore[operator]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


def separable(n: int = 4000, seed: int = 0) -> Batchable:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.float32)
    x = rng.normal(size=(n, 4)).astype(np.float32) + y[:, None]
    return Batchable(torch.from_numpy(x), torch.from_numpy(y), torch.ones(n))


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_every_optimizer_trains(optimizer: str) -> None:
    train, val = separable(seed=0), separable(seed=1)
    lr = 0.05 if optimizer == "sgd" else 1e-2
    params = TrainParams.from_mapping(
        {
            "n_layers": 1,
            "units": 16,
            "optimizer": optimizer,
            "learning_rate": lr,
            "max_epochs": 6,
            "lr_schedule": "cosine",
        }
    )
    result = train_classifier(params, train, val, seed=0)
    losses = [h["val_loss"] for h in result.history]
    assert min(losses) < 0.6  # clearly below the ln 2 = 0.693 of guessing
    assert losses[-1] < losses[0]


def test_bad_choices_name_the_parameter() -> None:
    base = {
        "luminosity": 1.0,
        "datasets": {"s": {"files": "s.root", "role": "signal"}, "b": {"files": "b.root", "role": "background"}},
        "features": ["x"],
    }
    space = {"optimizer": {"type": "categorical", "choices": ["adam", "adagrad"]}}
    with pytest.raises(
        ConfigError,
        match=r"model\.space\.optimizer: invalid value 'adagrad' for 'optimizer' \(one of \['adam', 'adamw', 'sgd', 'rmsprop'\]\)",
    ):
        SearchSpace.from_config(config_from_dict({**base, "model": {"space": space}}).model)
    good = {
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "lr_schedule": "cosine",
        "momentum": {"type": "float", "low": 0.0, "high": 0.95},
    }
    searched = SearchSpace.from_config(config_from_dict({**base, "model": {"space": good}}).model)
    assert searched.baseline()["lr_schedule"] == "cosine"
    assert set(searched.searched) == {"optimizer", "momentum"}
