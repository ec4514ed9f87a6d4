"""The toy of Louppe, Kagan and Cranmer, "Learning to Pivot with Adversarial Networks" (2017):
plain, classifier-adversary and mixture-density-adversary training side by side, over seeds.

Background x ~ N((0, 0), [[1, -0.5], [-0.5, 1]]); signal x ~ N((1, 1 + z), I), where the nuisance
z shifts the signal's second feature; z = +1 and -1 are the variations ``z_up`` and ``z_down``
(the mdn adversary models z itself). Prints, on the test split, the ROC AUC and the mean
Jensen-Shannon divergence (bits) between the nominal output and the output under each
variation (mean ± standard deviation over seeds).

    python analyses/pivot_toy/pivot_toy.py [--seeds 1 2 3 4] [--events 50000]
"""

from __future__ import annotations

import argparse

import numpy as np

from hepopt.data import EventTable
from hepopt.objectives import make_objective
from hepopt.scoring.evaluation import evaluate_classifier
from hepopt.scoring.trial import TrialRunner
from hepopt.training import TrainParams
from hepopt.training.adversary import AdversarySpec
from hepopt.training.sets import TrainingSets

VARIATIONS = ("z_up", "z_down")
RUNS = {  # label -> (adversary kind, lambda)
    "plain": ("classifier", 0.0),
    "classifier adversary, lambda 50": ("classifier", 50.0),
    "mdn adversary, lambda 50": ("mdn", 50.0),
}


def pivot_table(n: int, seed: int = 0) -> EventTable:
    """Each event once nominal and once per variation (z = +1, -1 moves the signal's x2)."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.5).astype(np.int8)
    background = rng.multivariate_normal([0.0, 0.0], [[1.0, -0.5], [-0.5, 1.0]], n)
    signal = rng.normal(0.0, 1.0, (n, 2)) + 1.0
    x = np.where(label[:, None] == 1, signal, background)
    copies = [x + np.array([0.0, z]) * (label[:, None] == 1) for z in (0.0, 1.0, -1.0)]
    return EventTable(
        features=np.concatenate(copies).astype(np.float32),
        label=np.tile(label, 3),
        weight=np.ones(3 * n),
        dataset=np.tile((label == 0).astype(np.int16), 3),
        variation=np.repeat(np.arange(3, dtype=np.int16), n),
        event_id=np.tile(np.arange(n, dtype=np.int64), 3),
        feature_names=("x1", "x2"),
        dataset_names=("signal", "background"),
        variation_names=("nominal", *VARIATIONS),
    )


def train(sets: TrainingSets, kind: str, adv_lambda: float, seed: int) -> dict[str, float]:
    """The paper's network (3 x 20) and schedule, the last adversarial epoch kept."""
    spec = AdversarySpec(VARIATIONS, kind, (1.0, -1.0) if kind == "mdn" else (), keep="last")
    params = TrainParams.from_mapping({
        "n_layers": 3, "units": 20, "batch_size": 128, "learning_rate": 1e-3, "max_epochs": 10, "patience": 3,
        "adv_lambda": adv_lambda, "adv_steps": 5, "adv_epochs": 20, "adv_pretrain_epochs": 3, "adv_learning_rate": 1e-3,
    })  # fmt: skip
    runner = TrialRunner(sets, (make_objective("roc_auc"),), "abs", seed, adversary=spec)
    return evaluate_classifier(runner.run(params).classifier, sets, "test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    sets = TrainingSets.from_table(pivot_table(args.events), (0.5, 0.25, 0.25), seed=1)
    print("| test split | ROC AUC | mean JSD (bit) | JSD reduction |\n|---|---|---|---|")
    plain_jsd = None
    for label, (kind, adv_lambda) in RUNS.items():
        runs = [train(sets, kind, adv_lambda, seed) for seed in args.seeds]
        auc, jsd = (np.array([r[key] for r in runs]) for key in ("roc_auc", "jsd_mean"))
        plain_jsd = jsd.mean() if plain_jsd is None else plain_jsd
        print(
            f"| {label} | {auc.mean():.3f} ± {auc.std(ddof=1):.3f} | {jsd.mean():.5f} ± {jsd.std(ddof=1):.5f} "
            f"| {plain_jsd / jsd.mean():.0f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
