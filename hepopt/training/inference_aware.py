"""Inference-aware training (INFERNO, de Castro & Dorigo 2019; neos, Simpson & Heinrich 2022):
the network is trained to minimise the expected uncertainty on the signal strength of the binned
profile likelihood that ``robust_significance`` fits, nuisances profiled, instead of a
classification loss.

The classifier keeps its one output in [0, 1]; each event is spread over the analysis bins by a
smooth kernel (a difference of sigmoids at the bin edges, of width ``temperature``), so the
histogram of each sample and of each systematic template is differentiable. The likelihood is
:class:`hepopt.stats.torch_likelihood.BinnedLikelihood` (pyhf's model in torch, tested equal to
pyhf) with code4p interpolation, smooth at alpha = 0 where the Fisher information is taken. At
evaluation the same network's hard histogram is scored by the ordinary objectives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hepopt.stats.torch_likelihood import BinnedLikelihood


def soft_bins(scores: torch.Tensor, edges: torch.Tensor, temperature: float) -> torch.Tensor:
    """``[events, bins]`` membership of each score in each bin: sigmoid((x - e) / T) steps at the
    inner edges, so each row sums to 1 and tends to the hard assignment as T -> 0."""
    inner = edges[1:-1]
    above = torch.sigmoid((scores[:, None] - inner[None, :]) / temperature)
    ones, zeros = torch.ones_like(scores[:, None]), torch.zeros_like(scores[:, None])
    steps = torch.cat([ones, above, zeros], dim=1)
    return steps[:, :-1] - steps[:, 1:]


@dataclass(frozen=True)
class Events:
    """Events of every sample with their yields: ``weight`` is each event's share of its sample's
    expected yield at the full luminosity (a batch's weights are rescaled to the full yield)."""

    x: torch.Tensor
    weight: torch.Tensor
    sample: torch.Tensor  # long, index into the likelihood's samples
    # Varied events: for each nominal event, the row of its varied copy here (-1: none, a
    # sample the variation does not affect), so a batch takes a template with its nominal.
    row_of_nominal: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.weight)


@dataclass(frozen=True)
class Systematic:
    """One nuisance's up and down events (of the samples it affects; the others keep nominal)."""

    up: Events
    down: Events


def sample_histograms(scores_bins: torch.Tensor, events: Events, n_samples: int, scale: torch.Tensor) -> torch.Tensor:
    """``[samples, bins]``: the weighted soft histogram of each sample, rescaled to its yield."""
    out = torch.zeros(n_samples, scores_bins.shape[1], dtype=scores_bins.dtype, device=scores_bins.device)
    out = out.index_add(0, events.sample, scores_bins * events.weight[:, None].to(scores_bins.dtype))
    return out * scale[:, None]


def expected_sigma_mu(
    model: nn.Module,
    nominal: Events,
    systematics: Sequence[Systematic],
    signal: torch.Tensor,
    edges: torch.Tensor,
    temperature: float | None,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """The expected uncertainty on mu of the binned model of ``model``'s output on these events
    (soft bins with ``temperature``; None: hard bins, for evaluation). ``scale``: per sample, the
    factor from these events to the full sample (a batch's N_full / N_batch; the varied copies
    were taken with their nominal events, so one factor keeps every normalisation effect)."""
    n_samples = int(signal.shape[0])
    factor = torch.ones(n_samples, dtype=torch.float64) if scale is None else scale.double()

    sets = [nominal] + [e for s in systematics for e in (s.up, s.down)]
    # One forward pass over every set: one large product instead of 1 + 2N small ones.
    scores = torch.sigmoid(model(torch.cat([e.x for e in sets])).squeeze(-1)).double()
    if temperature is None:
        index = torch.bucketize(scores.clamp(0, 1 - 1e-12), edges[1:-1])
        bins = nn.functional.one_hot(index, len(edges) - 1).double()
    else:
        bins = soft_bins(scores, edges.double(), temperature)
    hists = [
        sample_histograms(part, e, n_samples, factor)
        for part, e in zip(torch.split(bins, [len(e) for e in sets]), sets, strict=True)
    ]
    nom = hists[0]
    ups, downs = [], []
    for k, systematic in enumerate(systematics):
        up, down = hists[1 + 2 * k], hists[2 + 2 * k]
        ups.append(torch.where(_present(systematic.up, n_samples)[:, None], up, nom))
        downs.append(torch.where(_present(systematic.down, n_samples)[:, None], down, nom))
    likelihood = BinnedLikelihood(
        nom.clamp_min(1e-6),
        signal,
        torch.stack(ups).clamp_min(1e-6) if ups else None,
        torch.stack(downs).clamp_min(1e-6) if downs else None,
        interpolation="code4p",
    )
    return likelihood.sigma_mu()


def _present(events: Events, n_samples: int) -> torch.Tensor:
    counts = torch.bincount(events.sample, minlength=n_samples)
    return counts > 0


def train_inference_aware(
    model: nn.Module,
    nominal: Events,
    systematics: Sequence[Systematic],
    signal: torch.Tensor,
    *,
    bins: int = 10,
    temperature: float = 0.05,
    batch_size: int = 2000,
    epochs: int = 20,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Train ``model`` to minimise the expected sigma_mu on mini-batches (each batch draws the
    same events, by index, from the nominal and every varied set, so a template and its nominal
    move together); returns the batch loss per epoch (mean)."""
    generator = torch.Generator().manual_seed(seed)
    edges = torch.linspace(0.0, 1.0, bins + 1, dtype=torch.float64)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    history = []
    n = len(nominal)
    n_samples = int(signal.shape[0])
    full = torch.bincount(nominal.sample, minlength=n_samples).double()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        losses = []
        for start in range(0, n - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            batch = _take(nominal, index)
            varied = [Systematic(_take_ids(s.up, index), _take_ids(s.down, index)) for s in systematics]
            in_batch = torch.bincount(batch.sample, minlength=n_samples).double().clamp_min(1.0)
            loss = expected_sigma_mu(model, batch, varied, signal, edges, temperature, full / in_batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        history.append(sum(losses) / max(len(losses), 1))
    return history


def _take(events: Events, index: torch.Tensor) -> Events:
    return Events(events.x[index], events.weight[index], events.sample[index])


def _take_ids(events: Events, index: torch.Tensor) -> Events:
    """The varied copies of the nominal events ``index``."""
    if events.row_of_nominal is None:
        msg = "varied events need their nominal rows: build them with varied_events()"
        raise ValueError(msg)
    rows = events.row_of_nominal[index]
    return _take(events, rows[rows >= 0])


def varied_events(
    x: torch.Tensor, weight: torch.Tensor, sample: torch.Tensor, nominal_index: torch.Tensor, n_nominal: int
) -> Events:
    """Varied copies of nominal events: row ``i`` varies the nominal event ``nominal_index[i]``."""
    row = torch.full((n_nominal,), -1, dtype=torch.long)
    row[nominal_index] = torch.arange(len(nominal_index))
    return Events(x, weight, sample, row)
