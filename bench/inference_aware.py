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

import torch
from torch import nn

from hepopt.training.inference_aware import Events, Systematic, draw, expected_sigma_mu, varied_events


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
    parser.add_argument("--repeats", type=int, default=30)
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
    reweighted = [  # weight-based: a factor per event, no varied copies
        Systematic(1.0 + 0.05 * (k + 1) * sample.double(), 1.0 - 0.05 * (k + 1) * sample.double())
        for k in range(args.nuisances)
    ]
    signal = torch.tensor([True, False])
    edges = torch.linspace(0, 1, args.bins + 1, dtype=torch.float64)
    y = label.float()
    generator = torch.Generator().manual_seed(1)

    def timed(step: object) -> float:
        model = network(args.features)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        for _ in range(3):  # warm-up
            step(model, optimizer)  # type: ignore[operator]
        start = time.perf_counter()
        for _ in range(args.repeats):
            step(model, optimizer)  # type: ignore[operator]
        return (time.perf_counter() - start) / args.repeats

    def bce(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        index = torch.randperm(n, generator=generator)[: args.batch]
        loss = nn.functional.binary_cross_entropy_with_logits(model(x[index]).squeeze(-1), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def inferno(nuisances: list[Systematic], fraction: float) -> object:
        def step(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
            index = torch.randperm(n, generator=generator)[: args.batch]
            batch = draw(nominal, nuisances, index, 2, fraction, generator)
            loss = expected_sigma_mu(model, batch, signal, edges, 0.05)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return step

    plain = timed(bce)
    result: dict[str, object] = {"batch": args.batch, "bins": args.bins, "nuisances": args.nuisances}
    result["bce_step_ms"] = round(1000 * plain, 2)
    for fraction in args.fractions:
        aware = timed(inferno(systematics, fraction))
        result[f"file_variations_fraction_{fraction:g}"] = {
            "step_ms": round(1000 * aware, 2),
            "ratio": round(aware / plain, 2),
        }
    aware = timed(inferno(reweighted, 1.0))
    result["weight_variations"] = {"step_ms": round(1000 * aware, 2), "ratio": round(aware / plain, 2)}
    result["target_ratio"] = 3.0
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
