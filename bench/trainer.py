"""hepopt's trainer vs. a minimal hand-written torch loop on the same tensors and network.

Prints events/s per epoch of both and their ratio (target >= 0.9), and the per-trial set-up cost
of a search trial (intercept of trial time vs. number of epochs). Both are measured in this run.

    python bench/trainer.py [--events 100000] [--features 20] [--epochs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from hepopt.data.table import EventTable
from hepopt.objectives import make_objective
from hepopt.scoring.trial import TrialRunner
from hepopt.training import Batchable, TrainParams, train_classifier
from hepopt.training.sets import TrainingSets
from hepopt.training.trainer import build_model, weighted_bce


def toy_table(n: int, n_features: int, seed: int = 0) -> EventTable:
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.3).astype(np.int8)
    shift = np.linspace(0.0, 0.6, n_features, dtype=np.float32)
    features = rng.normal(size=(n, n_features)).astype(np.float32) + label[:, None] * shift
    return EventTable(
        features=features,
        label=label,
        weight=np.where(label == 1, 0.01, 1.0) * rng.uniform(0.5, 1.5, n),
        dataset=label.astype(np.int16),
        variation=np.zeros(n, np.int16),
        event_id=np.arange(n, dtype=np.int64),
        feature_names=tuple(f"x{i}" for i in range(n_features)),
        dataset_names=("bkg", "sig"),
    )


def bare_loop(params: TrainParams, train: Batchable, val: Batchable, epochs: int, seed: int) -> float:
    """What one writes by hand: shuffle, slice, step; validation loss once per epoch."""
    torch.manual_seed(seed)
    model = build_model(train.x.shape[1], params)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train))
        for lo in range(0, len(train), params.batch_size):
            idx = order[lo : lo + params.batch_size]
            loss = weighted_bce(model(train.x[idx]).squeeze(1), train.y[idx], train.w[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            weighted_bce(model(val.x).squeeze(1), val.y, val.w).item()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="training events")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    n_total = int(args.events / 0.6)  # 60 % of the table is the training split
    sets = TrainingSets.from_table(toy_table(n_total, args.features), (0.6, 0.2, 0.2), seed=1)
    params = TrainParams.from_mapping(
        {"n_layers": 3, "units": 64, "batch_size": 512, "max_epochs": args.epochs, "patience": 10**6}
    )
    train = sets.train.batchable(1.0, "abs")
    val = sets.validation.batchable(1.0, "abs")
    n_train = len(train)

    hepopt_s, bare_s = [], []
    for repeat in range(args.repeats):  # interleaved, best of N: robust to a busy machine
        start = time.perf_counter()
        train_classifier(params, train, val, seed=repeat)
        hepopt_s.append(time.perf_counter() - start)
        bare_s.append(bare_loop(params, train, val, args.epochs, seed=repeat))
    hepopt_rate = n_train * args.epochs / min(hepopt_s)
    bare_rate = n_train * args.epochs / min(bare_s)

    runner = TrialRunner(sets, (make_objective("asimov_significance"),), "abs", seed=0)
    trial_s = {}
    for epochs in (1, 3):
        one = TrainParams.from_mapping({"n_layers": 3, "units": 64, "max_epochs": epochs, "patience": 10**6})
        trial_s[epochs] = min(_timed(lambda p=one: runner.run(p)) for _ in range(args.repeats))
    per_epoch = (trial_s[3] - trial_s[1]) / 2
    setup = trial_s[1] - per_epoch

    result = {
        "train_events": n_train,
        "features": args.features,
        "network": "3x64 relu MLP, batch 512, Adam",
        "hepopt_events_per_s": round(hepopt_rate),
        "bare_torch_events_per_s": round(bare_rate),
        "ratio_hepopt_over_bare": round(hepopt_rate / bare_rate, 3),
        "seconds_per_epoch": round(n_train / hepopt_rate, 3),
        "trial_setup_and_scoring_s": round(setup, 4),
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(result, indent=2))
    print(
        f"\n| trainer | events/s per epoch | ratio |\n|---|---|---|\n"
        f"| bare torch loop | {bare_rate:,.0f} | 1.00 |\n| hepopt | {hepopt_rate:,.0f} | {hepopt_rate / bare_rate:.2f} |\n"
        f"\nper-trial set-up + scoring (intercept): {setup * 1000:.1f} ms"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


def _timed(func: object) -> float:
    start = time.perf_counter()
    func()  # type: ignore[operator]
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
