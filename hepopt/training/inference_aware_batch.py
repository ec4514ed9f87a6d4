"""The events the inference-aware loss sees (:mod:`hepopt.training.inference_aware`): nominal
events with their yields, each nuisance's varied events or varied weights, and the batches drawn
from them.

A batch draws its nominal events at random and, for each file-based variation, the varied copies
of those events (a varied event is tied to its nominal event), so a template and its nominal
histogram move together; a varied event with no nominal partner is drawn at the batch's rate of
its sample, which keeps every template unbiased. A weight variation is each nominal event's weight
under it. ``template_fraction`` estimates each template's change on the first part of the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Events:
    """Events of every sample with their yields: ``weight`` is each event's share of its sample's
    expected yield at the full luminosity (a batch's histograms are rescaled to the full yield)."""

    x: torch.Tensor
    weight: torch.Tensor
    sample: torch.Tensor  # long, index into the likelihood's samples

    def __len__(self) -> int:
        return len(self.weight)


@dataclass(frozen=True)
class VariedEvents:
    """The events of the samples a variation affects, as the variation has them.

    Attributes:
        events: the varied events.
        copy_of: per nominal event, the row of its varied copy (-1: none), so a batch takes the
            copies of its nominal events by index.
        alone: the varied rows that are no nominal event's copy (an event that enters the
            selection only under the variation, a second copy): a batch draws them at its rate.
        samples: the samples the variation affects.
    """

    events: Events
    copy_of: torch.Tensor
    alone: torch.Tensor
    samples: torch.Tensor

    def __len__(self) -> int:
        return len(self.events)


def varied_events(
    x: torch.Tensor, weight: torch.Tensor, sample: torch.Tensor, nominal_row: torch.Tensor, n_nominal: int
) -> VariedEvents:
    """Varied events, event ``i`` a copy of nominal event ``nominal_row[i]`` (-1: of none)."""
    nominal_row = nominal_row.long()
    rows = torch.arange(len(nominal_row), device=nominal_row.device)
    copy_of = torch.full((n_nominal,), -1, dtype=torch.long, device=nominal_row.device)
    partnered = nominal_row >= 0
    # the last write wins where a nominal event has two copies; the others are drawn alone
    copy_of[nominal_row[partnered]] = rows[partnered]
    first = torch.zeros(len(nominal_row), dtype=torch.bool, device=nominal_row.device)
    first[copy_of[copy_of >= 0]] = True
    return VariedEvents(Events(x, weight, sample), copy_of, rows[~first], torch.unique(sample))


Side = VariedEvents | torch.Tensor
"""One side of a nuisance, its upward or its downward variation: the varied events, or, for a
weight variation, each nominal event's weight under it."""


@dataclass(frozen=True)
class Systematic:
    """One nuisance: its up and down sides (no down side: the up one mirrored, as
    ``robust_significance`` does), and the width of its Gaussian constraint in units of the
    up/down shift (1: pyhf's histosys; ``math.inf``: unconstrained)."""

    up: Side
    down: Side | None = None
    width: float = 1.0


@dataclass(frozen=True)
class Batch:
    """What one step sees: nominal events, each side's varied events or varied weights, which
    samples each side affects, and the factors to the full yields."""

    nominal: Events
    sides: tuple[Events | torch.Tensor | None, ...]  # up, down of each nuisance in turn (None: mirror)
    affected: tuple[torch.Tensor, ...]  # [samples] bool per side
    widths: tuple[float, ...]
    scale: torch.Tensor  # [samples]: full yield / this batch's nominal events
    template_scale: torch.Tensor  # [samples]: batch / the part of it whose change was estimated
    template_rows: int  # the first rows of ``nominal`` on which the changes were estimated


def whole(nominal: Events, systematics: Sequence[Systematic], n_samples: int) -> Batch:
    """Every event at once (evaluation)."""
    return draw(nominal, systematics, torch.arange(len(nominal)), n_samples)


def draw(
    nominal: Events,
    systematics: Sequence[Systematic],
    index: torch.Tensor,
    n_samples: int,
    template_fraction: float = 1.0,
    generator: torch.Generator | None = None,
) -> Batch:
    """The batch of nominal rows ``index`` (in random order) with their varied copies: those of
    the first ``template_fraction`` of the rows, and each varied event without a nominal partner
    with that probability times the batch's share of its sample."""
    index = index.to(nominal.sample.device)
    full = torch.bincount(nominal.sample, minlength=n_samples).double()
    batch = _take(nominal, index)
    in_batch = torch.bincount(batch.sample, minlength=n_samples).double()
    rows = len(index) if template_fraction >= 1.0 else max(1, math.ceil(template_fraction * len(index)))
    in_part = torch.bincount(batch.sample[:rows], minlength=n_samples).double()
    head = index[:rows]
    share = (in_part / full.clamp_min(1.0)).to(nominal.weight.device)  # each sample's drawn share
    sides: list[Events | torch.Tensor | None] = []
    affected: list[torch.Tensor] = []
    for systematic in systematics:
        for side in (systematic.up, systematic.down):
            if side is None:
                sides.append(None)
                affected.append(affected[-1])
                continue
            if isinstance(side, torch.Tensor):
                sides.append(side.index_select(0, index))
                affected.append(torch.ones(n_samples, dtype=torch.bool, device=index.device))
                continue
            copies = side.copy_of[head]
            taken = copies[copies >= 0]
            if len(side.alone) and rows == len(nominal):  # every event: all of them
                taken = torch.cat([taken, side.alone])
            elif len(side.alone):  # no nominal partner: drawn at the batch's rate of their sample
                luck = torch.rand(len(side.alone), generator=generator).to(index.device)
                taken = torch.cat([taken, side.alone[luck < share[side.events.sample[side.alone]]]])
            sides.append(_take(side.events, taken))
            present = torch.zeros(n_samples, dtype=torch.bool, device=index.device)
            affected.append(present.index_fill(0, side.samples, True))
    return Batch(
        nominal=batch,
        sides=tuple(sides),
        affected=tuple(affected),
        widths=tuple(s.width for s in systematics),
        scale=full / in_batch.clamp_min(1.0),
        template_scale=in_batch / in_part.clamp_min(1.0),
        template_rows=rows,
    )


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Random batches of ``batch_size`` rows (the remainder is dropped: a histogram needs the
    batch's full size)."""
    order = torch.randperm(n, generator=generator)
    return [order[start : start + batch_size] for start in range(0, n - batch_size + 1, batch_size)] or [order]


def _take(events: Events, index: torch.Tensor) -> Events:
    """Rows ``index`` (``index_select``: several times faster than ``x[index]`` on CPU)."""
    return Events(*(t.index_select(0, index) for t in (events.x, events.weight, events.sample)))
