"""The INFERNO benchmark's evaluation (analyses/inferno_3d) reproduces the two rows of the paper's
table that need no training: the optimal classifier's sigma_s (its true density ratio in 10 bins,
templates at r +- 0.2 and lambda +- 0.5, through hepopt's loss with hard bins) and the analytic
likelihood's (Fisher information of the true densities by Monte Carlo integration)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "analyses" / "inferno_3d" / "inferno_3d.py"


@pytest.fixture(scope="module")
def inferno() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("inferno_3d", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_the_optimal_classifier_row_is_the_papers(inferno: ModuleType) -> None:
    test = inferno.Problem.of(*inferno.generate(500_000, 47))  # the paper's test set size
    got = [test.sigma_s(inferno.OptimalClassifier(), b) for b in inferno.BENCHMARKS]
    # measured: within 0.8 %, the Monte Carlo noise of the templates
    assert got == pytest.approx(inferno.PAPER["Optimal classifier"], rel=0.015)


def test_the_analytic_likelihood_row_is_the_papers(inferno: ModuleType) -> None:
    got = inferno.analytic_sigma_s(n=1_000_000)
    assert got == pytest.approx(inferno.PAPER["Analytical likelihood"], rel=0.005)


@pytest.mark.slow
def test_benchmark_2_meets_the_papers_inferno_within_ten_percent(inferno: ModuleType) -> None:
    """A short run (50,000 events per class, 8 epochs, one seed) of what the script does with
    100,000 and 20 over three seeds: r and lambda free, 10 bins."""
    import copy

    import torch

    torch.manual_seed(0)
    train = inferno.Problem.of(*inferno.generate(50_000, 27))
    test = inferno.Problem.of(*inferno.generate(200_000, 47))
    classifier = inferno.train_classifier(train, seed=0, epochs=4)
    aware = copy.deepcopy(classifier)
    inferno.train_inference_aware(aware, train.nominal, train.nuisances("2"), inferno.SIGNAL, epochs=8, seed=0)
    before, after = test.sigma_s(classifier, "2"), test.sigma_s(aware, "2")
    # measured: 24.0 -> 17.7 (the full run: 24.65 -> 16.44); the paper: 23.94 -> 16.95
    assert after <= 1.1 * inferno.PAPER["INFERNO (its own benchmark)"][2]
    assert after <= 0.75 * before
