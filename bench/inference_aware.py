"""One inference-aware training step (soft histograms, pyhf's model in torch, the Fisher
information by double backward, sigma_mu) against one plain BCE step of the same network, in
the same run: batch 2000, 10 bins, 3 nuisances (target: <= 3x).

    python bench/inference_aware.py [--batch 2000] [--bins 10] [--nuisances 3] [--repeats 30]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from hepopt.training.inference_aware import Events, Systematic, expected_sigma_mu, varied_events


def network(features: int) -> nn.Module:
    return nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--nuisances", type=int, default=3)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # one trial's share of a shared machine, as hepopt trains
    n = args.batch
    label = torch.rand(n) < 0.5
    x = torch.randn(n, args.features) + label[:, None].float()
    sample = (~label).long()
    weight = torch.where(label, 50.0 / label.sum(), 1000.0 / (~label).sum()).double()
    nominal = Events(x, weight, sample)
    background = torch.nonzero(~label).squeeze(1)
    systematics = []
    for k in range(args.nuisances):
        shift = torch.zeros(args.features)
        shift[k] = 0.5
        up = varied_events(x[background] + shift, weight[background], sample[background], background, n)
        down = varied_events(x[background] - shift, weight[background], sample[background], background, n)
        systematics.append(Systematic(up, down))
    signal = torch.tensor([True, False])
    edges = torch.linspace(0, 1, args.bins + 1, dtype=torch.float64)
    y = label.float()

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
        loss = nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(-1), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def inferno(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        loss = expected_sigma_mu(model, nominal, systematics, signal, edges, 0.05)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    plain, aware = timed(bce), timed(inferno)
    result = {
        "batch": n,
        "bins": args.bins,
        "nuisances": args.nuisances,
        "bce_step_ms": 1000 * plain,
        "inference_aware_step_ms": 1000 * aware,
        "ratio": aware / plain,
        "target_ratio": 3.0,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
