"""One inference-aware training step (a batch drawn with its varied copies, soft histograms,
pyhf's model in torch, the Fisher information in closed form, sigma_mu) against one plain BCE
step of the same network on a batch of the same size, in the same run: batch 2000, 10 bins, 3
nuisances (target: <= 3x). File-based nuisances (every background event has a varied copy) with
the template changes estimated on the whole batch and on a part of it (``template_fraction``),
and weight-based nuisances (no varied copies).

    python bench/inference_aware.py [--batch 2000] [--bins 10] [--nuisances 3] [--fractions 1 0.5 0.25]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from hepopt.training.inference_aware import expected_sigma_mu
from hepopt.training.inference_aware_batch import Events, Systematic, draw, varied_events

Step = Callable[[nn.Module, torch.optim.Optimizer], None]


def network(features: int) -> nn.Module:
    return nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--nuisances", type=int, default=3)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--events", type=int, default=40000, help="training events the batches are drawn from")
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    parser.add_argument("--repeats", type=int, default=20, help="steps per timing")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timings; the best is kept")
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # one trial's share of a shared machine, as hepopt trains
    n = args.events
    label = torch.rand(n) < 0.5
    x = torch.randn(n, args.features) + label[:, None].float()
    sample = (~label).long()
    weight = torch.where(label, 50.0 / label.sum(), 1000.0 / (~label).sum()).double()
    nominal = Events(x, weight, sample)
    background = torch.nonzero(~label).squeeze(1)
    systematics = []  # file-based: every background event has a shifted copy
    for k in range(args.nuisances):
        shift = torch.zeros(args.features)
        shift[k] = 0.5
        up = varied_events(x[background] + shift, weight[background], sample[background], background, n)
        down = varied_events(x[background] - shift, weight[background], sample[background], background, n)
        systematics.append(Systematic(up, down))
    reweighted = [  # weight-based: each event's weight under the variation, no varied copies
        Systematic(weight * (1.0 + 0.05 * (k + 1) * sample), weight * (1.0 - 0.05 * (k + 1) * sample))
        for k in range(args.nuisances)
    ]
    signal = torch.tensor([True, False])
    edges = torch.linspace(0, 1, args.bins + 1, dtype=torch.float64)
    y = label.float()
    generator = torch.Generator().manual_seed(1)
    order = [torch.randperm(n, generator=generator)]
    at = [0]

    def next_batch() -> torch.Tensor:
        """Consecutive slices of one permutation per epoch, as the training loops draw them."""
        if at[0] + args.batch > n:
            order[0], at[0] = torch.randperm(n, generator=generator), 0
        at[0] += args.batch
        return order[0][at[0] - args.batch : at[0]]

    def timer(step: Step) -> Callable[[], float]:
        """A model and optimiser for ``step``, warmed up; each call times ``--repeats`` steps."""
        model = network(args.features)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        for _ in range(3):
            step(model, optimizer)

        def run() -> float:
            start = time.perf_counter()
            for _ in range(args.repeats):
                step(model, optimizer)
            return (time.perf_counter() - start) / args.repeats

        return run

    def bce(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        index = next_batch()
        loss = nn.functional.binary_cross_entropy_with_logits(model(x[index]).squeeze(-1), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def inferno(nuisances: list[Systematic], fraction: float) -> Step:
        def step(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
            index = next_batch()
            batch = draw(nominal, nuisances, index, 2, fraction, generator)
            loss = expected_sigma_mu(model, batch, signal, edges, 0.05)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return step

    steps: dict[str, Step] = {"bce": bce}
    steps.update({f"file_variations_fraction_{f:g}": inferno(systematics, f) for f in args.fractions})
    steps["weight_variations"] = inferno(reweighted, 1.0)
    timers = {name: timer(step) for name, step in steps.items()}
    best = dict.fromkeys(timers, float("inf"))
    for _ in range(args.rounds):  # interleaved rounds, the best of each: the machine's noise hits all alike
        for name, run in timers.items():
            best[name] = min(best[name], run())
    plain = best.pop("bce")
    result: dict[str, object] = {"batch": args.batch, "bins": args.bins, "nuisances": args.nuisances}
    result["bce_step_ms"] = round(1000 * plain, 2)
    for name, seconds in best.items():
        result[name] = {"step_ms": round(1000 * seconds, 2), "ratio": round(seconds / plain, 2)}
    result["target_ratio"] = 3.0
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
