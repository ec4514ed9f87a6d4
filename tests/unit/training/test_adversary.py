"""Adversarial training on a toy with a nuisance: Gaussian classes, the background's second
feature shifted by z = -1, 0, +1. The output's dependence on z is measured for lambda = 0 and > 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hepopt.data import EventTable
from hepopt.objectives import make_objective
from hepopt.scoring.evaluation import evaluate_classifier
from hepopt.scoring.trial import TrialRunner
from hepopt.training import TrainParams
from hepopt.training.adversary import AdversaryData, AdversarySpec
from hepopt.training.sets import TrainingSets

VARIATIONS = ("nuis_up", "nuis_down")


def gaussian_classes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a robust weaker feature x1, and a stronger x2 (the one a nuisance will move)."""
    label = (rng.random(n) < 0.5).astype(np.int8)
    x1 = rng.normal(np.where(label == 1, 0.8, -0.8), 1.0)
    x2 = rng.normal(np.where(label == 1, 1.5, 0.0), 1.0)
    return label, x1, x2


def table_of_copies(
    label: np.ndarray, copies: list[np.ndarray], variation_names: tuple[str, ...], nuisance: np.ndarray | None = None
) -> EventTable:
    """The same events once per variation (nominal first), each copy with its own features."""
    n, k = len(label), len(copies)
    return EventTable(
        features=np.concatenate(copies).astype(np.float32),
        label=np.tile(label, k),
        weight=np.tile(np.where(label == 1, 0.1, 1.0), k),
        dataset=np.tile((label == 0).astype(np.int16), k),
        variation=np.repeat(np.arange(k, dtype=np.int16), n),
        event_id=np.tile(np.arange(n, dtype=np.int64), k),
        feature_names=("x1", "x2"),
        dataset_names=("sig", "bkg"),
        variation_names=variation_names,
        nuisance=nuisance,
    )


def toy_table(n: int = 8000, shift: float = 1.0, seed: int = 0) -> EventTable:
    label, x1, x2 = gaussian_classes(np.random.default_rng(seed), n)
    copies = [np.stack([x1, x2 + z * shift * (label == 0)], axis=1) for z in (0.0, 1.0, -1.0)]
    return table_of_copies(label, copies, ("nominal", *VARIATIONS))


@pytest.fixture(scope="module")
def sets() -> TrainingSets:
    return TrainingSets.from_table(toy_table(), (0.5, 0.25, 0.25), seed=1)


def toy_params(adv_lambda: float, adv_epochs: int) -> TrainParams:
    """The small network and short adversarial schedule the toy problems train with."""
    return TrainParams.from_mapping({
        "n_layers": 2, "units": 32, "batch_size": 256, "learning_rate": 3e-3, "max_epochs": 8, "patience": 3,
        "adv_lambda": adv_lambda, "adv_steps": 3, "adv_epochs": adv_epochs, "adv_pretrain_epochs": 2, "adv_learning_rate": 3e-3,
    })  # fmt: skip


def train(sets: TrainingSets, spec: AdversarySpec, adv_lambda: float) -> dict[str, float]:
    runner = TrialRunner(sets, (make_objective("robust_significance"),), "abs", seed=3, adversary=spec)
    outcome = runner.run(toy_params(adv_lambda, adv_epochs=8))
    return evaluate_classifier(outcome.classifier, sets, "test", adversary=spec)


def test_adversary_data_balances_nominal_and_varied(sets: TrainingSets) -> None:
    data = AdversaryData.from_sets(sets, "train", AdversarySpec(VARIATIONS), "abs")
    targets = data.target.numpy()
    assert set(np.unique(targets)) == {0, 1, 2}
    sums = [data.w.numpy()[targets == k].sum() for k in range(3)]
    np.testing.assert_allclose(sums, sums[0], rtol=1e-5)
    assert len(data) == 3 * len(sets.train)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "adv_lambda"), [("classifier", 3.0), ("mdn", 10.0)])
def test_adversarial_training_removes_the_nuisance_dependence(sets: TrainingSets, kind: str, adv_lambda: float) -> None:
    # The paper's scheme (keep the last epoch): this toy is stat-dominated, so picking the epoch by
    # the significance would favour separation over robustness.
    spec = AdversarySpec(VARIATIONS, kind, (1.0, -1.0) if kind == "mdn" else (), keep="last")
    plain = train(sets, spec, 0.0)
    pivot = train(sets, spec, adv_lambda)
    # The plain classifier leans on x2, whose background shifts with z.
    assert plain["jsd/nuis_up/background"] > 0.02
    assert plain["jsd/nuis_up/signal"] == pytest.approx(0.0, abs=1e-12)  # the signal never moves
    # Against the adversary the background output moves several times less ...
    assert pivot["jsd_mean"] < plain["jsd_mean"] / 2.5
    assert pivot["ks_mean"] < plain["ks_mean"] / 1.5
    # ... and the classifier still separates the classes through x1.
    assert pivot["roc_auc"] > 0.7
    assert plain["roc_auc"] > pivot["roc_auc"]


@pytest.mark.slow
def test_selection_keeps_the_best_adversarial_epoch(sets: TrainingSets) -> None:
    from hepopt.training.adversarial import train_adversarial
    from hepopt.training.trainer import evaluate_loss

    spec = AdversarySpec(VARIATIONS)
    train_b, val_b = sets.train.batchable(1.0, "abs"), sets.validation.batchable(1.0, "abs")
    adv_train, adv_val = (AdversaryData.from_sets(sets, s, spec, "abs") for s in ("train", "validation"))
    params = TrainParams.from_mapping(
        {"n_layers": 2, "units": 16, "max_epochs": 3, "adv_lambda": 10.0, "adv_epochs": 5, "adv_steps": 2}
    )

    def select(model: object) -> float:
        return -evaluate_loss(model, val_b)  # keep the epoch with the lowest validation loss

    result, _ = train_adversarial(params, train_b, val_b, adv_train, adv_val, spec, seed=2, select=select)
    adversarial = [h for h in result.history if "selection_score" in h]
    assert len(adversarial) == 5
    best = max(adversarial, key=lambda h: h["selection_score"])
    assert result.history[result.best_epoch] is best
    assert select(result.model) == pytest.approx(best["selection_score"], rel=1e-6)
    final, _ = train_adversarial(params, train_b, val_b, adv_train, adv_val, spec, seed=2)
    assert evaluate_loss(final.model, val_b) == pytest.approx(
        adversarial[-1]["val_loss"], rel=1e-6
    )  # paper: last epoch


def continuous_table(n: int = 8000, seed: int = 4) -> EventTable:
    """Nominal events plus one variation whose background x2 is shifted by a per-event z ~ U(-1.5, 1.5)."""
    rng = np.random.default_rng(seed)
    label, x1, x2 = gaussian_classes(rng, n)
    z = rng.uniform(-1.5, 1.5, n)
    copies = [np.stack([x1, x2], axis=1), np.stack([x1, x2 + z * (label == 0)], axis=1)]
    return table_of_copies(label, copies, ("nominal", "nuis"), nuisance=np.concatenate([np.zeros(n), z]))


@pytest.mark.slow
def test_mdn_adversary_with_a_per_event_nuisance() -> None:
    from hepopt.training.trainer import predict_proba

    sets = TrainingSets.from_table(continuous_table(), (0.5, 0.25, 0.25), seed=1)
    spec = AdversarySpec(("nuis",), "mdn", (float("nan"),), keep="last")  # values come from the events
    data = AdversaryData.from_sets(sets, "train", spec, "abs")
    varied = sets.varied["train"]["nuis"]
    np.testing.assert_allclose(data.target.numpy()[len(sets.train) :], varied.nuisance, rtol=1e-6)

    def dependence(adv_lambda: float) -> tuple[float, float]:
        runner = TrialRunner(sets, (make_objective("roc_auc"),), "abs", seed=3, adversary=spec)
        outcome = runner.run(toy_params(adv_lambda, adv_epochs=16))
        test = sets.varied["test"]["nuis"]
        background = test.labels == 0
        scores = predict_proba(outcome.classifier.model, test.x_tensor)[background]
        correlation = abs(np.corrcoef(scores, test.nuisance[background])[0, 1])
        return correlation, evaluate_classifier(outcome.classifier, sets, "test")["roc_auc"]

    plain_corr, plain_auc = dependence(0.0)
    pivot_corr, pivot_auc = dependence(100.0)
    assert plain_corr > 0.3  # the plain output follows z through x2
    assert pivot_corr < plain_corr / 3
    assert plain_auc > 0.9
    assert pivot_auc > 0.7  # still separating, through x1


def test_a_team_lightning_module_trains_against_the_adversary(
    sets: TrainingSets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversarial training takes any torch family: here a LightningModule from outside hepopt."""
    import lightning

    from hepopt.training.adversarial import train_adversarial

    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "data" / "user_models"))
    spec = AdversarySpec(VARIATIONS)
    train_b, val_b = sets.train.batchable(1.0, "abs"), sets.validation.batchable(1.0, "abs")
    adv_train, adv_val = (AdversaryData.from_sets(sets, s, spec, "abs") for s in ("train", "validation"))
    params = TrainParams.from_mapping(
        {"family": "hep_nets:LightningNet", "max_epochs": 2, "adv_lambda": 5.0, "adv_epochs": 3, "adv_steps": 2}
    )
    result, _ = train_adversarial(params, train_b, val_b, adv_train, adv_val, spec, seed=2)
    assert isinstance(result.model, lightning.LightningModule)
    adversarial = [h for h in result.history if "adv_loss" in h]
    assert len(adversarial) == 3
    assert all(np.isfinite(h["adv_loss"]) and np.isfinite(h["val_loss"]) for h in adversarial)


@pytest.mark.slow
def test_keep_by_a_named_objective(sets: TrainingSets) -> None:
    """``adversary.keep_by: output_shift`` keeps the adversarial epoch whose output moves least
    under the variations on validation, not the one with the best search objective."""
    from hepopt.scoring.trial import objective_inputs

    shift = make_objective("output_shift")
    runner = TrialRunner(sets, (make_objective("roc_auc"),), "abs", 0, AdversarySpec(VARIATIONS), keep_by=shift)
    outcome = runner.run(toy_params(adv_lambda=5.0, adv_epochs=4))
    adversarial = [h for h in outcome.training.history if "selection_score" in h]
    assert len(adversarial) == 4
    best = max(adversarial, key=lambda h: h["selection_score"])
    kept_shift = shift.evaluate(objective_inputs(outcome.classifier, sets, "validation")).value
    assert -kept_shift == pytest.approx(best["selection_score"], rel=1e-6)  # minimised: the score is -JSD
    assert kept_shift == pytest.approx(min(-h["selection_score"] for h in adversarial), rel=1e-6)


def test_mdn_components_cannot_collapse_onto_discrete_nuisance_values(sets: TrainingSets) -> None:
    """The narrowest component is 0.45 x the nuisance values' weighted spread: components that
    collapse onto z = -1, 0, +1 leave the classifier a gradient of noise (on the pivot toy the JSD
    then fell 6x instead of 19x, see analyses/pivot_toy)."""
    import math

    import torch

    from hepopt.training.adversary import MDN_MIN_WIDTH, Adversary

    spec = AdversarySpec(VARIATIONS, "mdn", (1.0, -1.0))
    data = AdversaryData.from_sets(sets, "train", spec, "abs")
    z, w = data.target.numpy().astype(np.float64), data.w.numpy().astype(np.float64)
    mean = np.average(z, weights=w)
    assert data.target_scale == pytest.approx(math.sqrt(np.average((z - mean) ** 2, weights=w)), rel=1e-6)
    assert data.target_scale == pytest.approx(math.sqrt(2 / 3), rel=1e-3)  # three values, equal weight
    adversary = Adversary(spec, toy_params(1.0, 1), data.target_scale)
    assert adversary.min_log_sigma == pytest.approx(math.log(MDN_MIN_WIDTH * data.target_scale))
    # A mixture asking for narrower components is scored at the floor.
    target = torch.tensor([1.0, 0.0, -1.0])
    narrow = torch.tensor([[0.0] * 5 + [1.0, 0.0, -1.0, 5.0, 5.0] + [-10.0] * 5] * 3)
    at_floor = narrow.clone()
    at_floor[:, 10:] = adversary.min_log_sigma
    weights = torch.ones(3)
    assert float(adversary.loss(narrow, target, weights)) == pytest.approx(
        float(adversary.loss(at_floor, target, weights))
    )
