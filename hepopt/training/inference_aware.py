"""Inference-aware training (INFERNO, de Castro & Dorigo 2019; neos, Simpson & Heinrich 2022):
the network is trained to minimise the expected uncertainty on the signal strength of the binned
profile likelihood that ``robust_significance`` fits, nuisances profiled, instead of a
classification loss.

The classifier keeps its one output in [0, 1]; each event is spread over the analysis bins by a
smooth kernel (a difference of sigmoids at the bin edges, of width ``temperature``), so the
histogram of each sample and of each systematic template is differentiable. The likelihood is
:class:`hepopt.stats.torch_likelihood.BinnedLikelihood` (pyhf's model in torch, tested equal to
pyhf) with code4p interpolation, smooth at alpha = 0 where the Fisher information is taken. At
evaluation the same network's hard histogram (``temperature=None``) gives the same numbers as the
ordinary binned objectives.

A template is the nominal histogram plus the change its variation makes, estimated on the batch:
for varied events (alternative files) the histogram of the varied copies drawn with the batch,
minus the batch's nominal events of the samples the variation affects; for weight variations the
nominal events' varied weights minus their weights, which needs no extra pass through the network (the
batches: :mod:`hepopt.training.inference_aware_batch`). The step's price is mostly the network's
passes over the varied copies.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hepopt.errors import TrainingError
from hepopt.stats.torch_likelihood import BinnedLikelihood
from hepopt.training.inference_aware_batch import Batch, Events, Systematic, batches, draw, whole


def soft_bins(scores: torch.Tensor, edges: torch.Tensor, temperature: float) -> torch.Tensor:
    """``[events, bins]`` membership of each score in each bin: sigmoid((x - e) / T) steps at the
    inner edges, so each row sums to 1 and tends to the hard assignment as T -> 0."""
    inner = edges[1:-1]
    above = torch.sigmoid((scores[:, None] - inner[None, :]) / temperature)
    ones, zeros = torch.ones_like(scores[:, None]), torch.zeros_like(scores[:, None])
    steps = torch.cat([ones, above, zeros], dim=1)
    return steps[:, :-1] - steps[:, 1:]


def hard_bins(scores: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """``[events, bins]`` one-hot: the bin of each score, bins closed on the left as numpy's (a
    score on an inner edge goes up; 1 falls in the last bin)."""
    index = torch.bucketize(scores.clamp(0, 1 - 1e-12), edges[1:-1].to(scores.dtype), right=True)
    return nn.functional.one_hot(index, len(edges) - 1).to(scores.dtype)


def sample_histograms(bins: torch.Tensor, weights: torch.Tensor, sample: torch.Tensor, n_samples: int) -> torch.Tensor:
    """``[columns, samples, bins]``: the (soft) histogram of each sample for each column of
    ``weights`` (``[events, columns]``), as one matrix product."""
    events, n_columns = weights.shape
    per_sample = nn.functional.one_hot(sample, n_samples).to(weights.dtype)[:, None, :] * weights[:, :, None]
    product = per_sample.reshape(events, n_columns * n_samples).T @ bins
    return product.reshape(n_columns, n_samples, bins.shape[1])


def expected_sigma_mu(
    model: nn.Module,
    batch: Batch,
    signal: torch.Tensor,
    edges: torch.Tensor,
    temperature: float | None,
    mc_stat: bool = False,
) -> torch.Tensor:
    """The expected uncertainty on mu of the binned model of ``model``'s output on this batch
    (soft bins with ``temperature``; None: hard bins, for evaluation), every nuisance profiled,
    with the MC statistical uncertainty of the batch's yields as pyhf's staterror if ``mc_stat``."""
    return binned_model(model, batch, signal, edges, temperature, mc_stat).sigma_mu()


def binned_model(
    model: nn.Module,
    batch: Batch,
    signal: torch.Tensor,
    edges: torch.Tensor,
    temperature: float | None,
    mc_stat: bool = False,
) -> BinnedLikelihood:
    """The binned likelihood of ``model``'s output on this batch (see :func:`expected_sigma_mu`):
    the yields at the full luminosity, the templates, the MC uncertainty."""
    n_samples = int(signal.shape[0])
    nominal = batch.nominal
    varied = [side for side in batch.sides if isinstance(side, Events)]
    device = nominal.x.device
    edges, signal = edges.to(device=device, dtype=torch.float64), signal.to(device)
    # One pass over the nominal events and every varied copy: one large product, not many small.
    logits = model(torch.cat([nominal.x] + [e.x for e in varied])).squeeze(-1)
    scores = torch.sigmoid(logits).double()
    bins = hard_bins(scores, edges) if temperature is None else soft_bins(scores, edges, temperature)
    nominal_bins, varied_bins = bins[: len(nominal)], bins[len(nominal) :]
    scale = batch.scale.to(device)[:, None]
    template_scale = scale * batch.template_scale.to(device)[:, None]

    # Every histogram of the nominal events in one product: a weight column each for the nominal
    # yields, each weight variation's change, each file variation's nominal part it replaces (the
    # estimated part of the batch, the samples it affects) and the squared weights.
    weight = nominal.weight.double()
    head = (torch.arange(len(nominal), device=device) < batch.template_rows).double()
    columns = [weight]
    for side, affected in zip(batch.sides, batch.affected, strict=True):
        if isinstance(side, torch.Tensor):
            columns.append(side.double() - weight)
        elif isinstance(side, Events):
            columns.append(weight * head * affected.to(device)[nominal.sample].double())
    if mc_stat:
        columns.append(weight**2)
    nominal_hists = sample_histograms(nominal_bins, torch.stack(columns, dim=1), nominal.sample, n_samples)
    # and those of the varied copies, a weight column per file variation (zero on the others' rows)
    sizes = torch.tensor([len(e) for e in varied], dtype=torch.long, device=device)
    owner = torch.repeat_interleave(torch.arange(len(varied), device=device), sizes)
    varied_weight = torch.cat([e.weight for e in varied]).double() if varied else weight[:0]
    owner_columns = (owner[:, None] == torch.arange(len(varied), device=device)[None, :]).double()
    varied_hists = sample_histograms(
        varied_bins,
        owner_columns * varied_weight[:, None],
        torch.cat([e.sample for e in varied]) if varied else nominal.sample[:0],
        n_samples,
    )

    nom = nominal_hists[0] * scale
    templates: list[torch.Tensor] = []
    column, file_side = 1, 0
    for side in batch.sides:
        if side is None:  # one-sided: the down template mirrors the up one about the nominal
            templates.append(2.0 * nom - templates[-1])
        elif isinstance(side, torch.Tensor):  # weight variation: the same events, other weights
            templates.append(nom + nominal_hists[column] * scale)
            column += 1
        else:  # varied events: their histogram replaces that of the nominal events they stand for
            change = varied_hists[file_side] - nominal_hists[column]
            templates.append(nom + change * template_scale)
            column, file_side = column + 1, file_side + 1
    n = len(batch.widths)
    up = torch.stack(templates[0::2]).clamp_min(1e-6) if n else None
    down = torch.stack(templates[1::2]).clamp_min(1e-6) if n else None
    mc_error = None
    if mc_stat:  # sum w^2 of the full sample, estimated
        mc_error = torch.sqrt(nominal_hists[-1] * scale + 1e-12)
    return BinnedLikelihood(
        nom.clamp_min(1e-6),
        signal,
        up,
        down,
        mc_error,
        interpolation="code4p",
        constraint_width=torch.tensor(batch.widths, dtype=torch.float64, device=device) if n else None,
    )


@dataclass(frozen=True)
class Fit:
    """Per epoch (the first row is the start) the mean batch loss (``loss``: the soft sigma_mu),
    with validation events the hard-binned sigma_mu on them (``val_sigma_mu``), and the
    ``selection_score``; the epoch whose weights were kept."""

    history: list[dict[str, float]]
    best_epoch: int


def train_inference_aware(
    model: nn.Module,
    nominal: Events,
    systematics: Sequence[Systematic],
    signal: torch.Tensor,
    *,
    bins: int | Sequence[float] = 10,
    temperature: float = 0.05,
    batch_size: int = 2000,
    epochs: int = 20,
    learning_rate: float = 1e-3,
    template_fraction: float = 1.0,
    mc_stat: bool = False,
    seed: int = 0,
    validation: tuple[Events, Sequence[Systematic]] | None = None,
    select: Callable[[nn.Module], float] | None = None,
) -> Fit:
    """Train ``model`` to minimise the expected sigma_mu on mini-batches (a batch takes the
    varied copies of its nominal events, so a template and its nominal move together); ``bins``:
    a number of equal bins of the output in [0, 1], or the edges. The model keeps the weights of
    the epoch (the start is epoch 0) with the highest ``select(model)`` (e.g. an objective on
    validation events), else with the least hard-binned sigma_mu on the ``validation`` events,
    else those of the last epoch.

    Raises:
        TrainingError: the loss became NaN or infinite.
    """
    generator = torch.Generator().manual_seed(seed)
    device = nominal.x.device
    if isinstance(bins, int):
        edges = torch.linspace(0.0, 1.0, bins + 1, dtype=torch.float64, device=device)
    else:
        edges = torch.as_tensor(list(bins), dtype=torch.float64, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    n_samples = int(signal.shape[0])
    signal = signal.to(device)
    checked = None if validation is None else whole(validation[0], validation[1], n_samples)

    def judged() -> dict[str, float]:
        """The validation figures of the current weights; ``keep``: higher is better."""
        model.eval()
        row: dict[str, float] = {}
        if checked is not None:
            with torch.no_grad():
                value = float(expected_sigma_mu(model, checked, signal, edges, None, mc_stat))
            row["val_sigma_mu"] = value if math.isfinite(value) else math.inf
            row["keep"] = -row["val_sigma_mu"]
        if select is not None:
            row["selection_score"] = row["keep"] = select(model)
        model.train()
        return row

    history = [{"loss": math.nan, **judged()}]
    best_epoch, best_state = 0, copy.deepcopy(model.state_dict())
    model.train()
    for epoch in range(1, epochs + 1):
        losses = []
        for index in batches(len(nominal), batch_size, generator):
            batch = draw(nominal, systematics, index.to(device), n_samples, template_fraction, generator)
            loss = expected_sigma_mu(model, batch, signal, edges, temperature, mc_stat)
            if not torch.isfinite(loss):
                msg = f"inference-aware training diverged (sigma_mu {float(loss)} in epoch {epoch})"
                raise TrainingError(msg)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        history.append({"loss": sum(losses) / max(len(losses), 1), **judged()})
        if "keep" not in history[-1] or history[-1]["keep"] > history[best_epoch]["keep"]:
            best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    for row in history:
        row.pop("keep", None)
    model.eval()
    return Fit(history, best_epoch)
