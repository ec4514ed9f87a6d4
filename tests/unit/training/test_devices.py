"""Where training runs: the CPU, CUDA when present, a GPU share per Ray trial worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hepopt.config import config_from_dict
from hepopt.errors import ConfigError
from hepopt.training import Classifier, TrainParams, train_classifier

from helpers import varied_toy_sets, with_

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (bench/gpu.py measured one)")


@pytest.mark.parametrize(("gpus", "ok"), [(0.25, True), (1, True), (2, True), (1.5, False)])
def test_gpus_per_trial_is_a_fraction_or_whole_gpus(gpus: float, ok: bool) -> None:
    raw = with_(search={"backend": "ray", "gpus_per_trial": gpus})
    if ok:
        assert config_from_dict(raw, "cfg.yaml").search.gpus_per_trial == gpus
    else:
        with pytest.raises(ConfigError, match=r"search\.gpus_per_trial: .*a fraction of one GPU"):
            config_from_dict(raw, "cfg.yaml")


def test_moving_the_sets_keeps_shared_tensors_shared() -> None:
    sets = varied_toy_sets()
    moved = sets.to("cpu")
    for name, nominal in sets.splits.items():
        np.testing.assert_array_equal(moved.splits[name].x_tensor.numpy(), nominal.x_tensor.numpy())
        for variation, varied in sets.varied[name].items():
            shares = varied.x_tensor is nominal.x_tensor
            assert (moved.varied[name][variation].x_tensor is moved.splits[name].x_tensor) == shares


@cuda
@pytest.mark.gpu
def test_a_network_trained_on_cuda_reloads_on_the_cpu(tmp_path: Path) -> None:
    sets = varied_toy_sets().to("cuda")
    train, val = sets.train.batchable(1.0, "abs"), sets.validation.batchable(1.0, "abs")
    params = TrainParams.from_mapping({"max_epochs": 3})
    model = train_classifier(params, train, val, seed=1).model
    assert next(model.parameters()).is_cuda
    classifier = Classifier(model, sets.scaler, sets.feature_names, params)
    classifier.save(tmp_path / "model.pt")
    on_cpu = Classifier.load(tmp_path / "model.pt", device="cpu")
    x = sets.validation.x * sets.scaler.scale + sets.scaler.mean
    np.testing.assert_allclose(on_cpu.predict(x), classifier.predict(x), atol=1e-6)
