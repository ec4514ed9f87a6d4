"""Adversarial training against systematic variations ("Learning to Pivot", Louppe, Kagan,
Cranmer 2017).

An adversary sees the classifier output (and the event's class) and learns to tell nominal events
from events of the systematic variations; the classifier minimises L_clf - lambda * L_adv, so its
output stops carrying information about the variation (the game itself:
:mod:`hepopt.training.adversarial`).

The adversary sees only the datasets that have a varied version under *every* chosen variation,
nominal and varied events alike: otherwise it could learn "this looks like a dataset that has no
JES variation" instead of "this output moved with the JES".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from hepopt.errors import TrainingError
from hepopt.models.params import TrainParams
from hepopt.training.trainer import (
    predict_logits,
    training_weights,
)

if TYPE_CHECKING:  # annotations only: the training runs without the config and data layers
    from hepopt.config.schema import AdversaryConfig
    from hepopt.training.sets import SplitArrays, TrainingSets


MDN_MIN_WIDTH = 0.45  # of the nuisance values' weighted standard deviation


@dataclass(frozen=True)
class AdversarySpec:
    """What the adversary predicts: ``classifier`` (which variation) or ``mdn`` (nuisance value)."""

    variations: tuple[str, ...]
    kind: str = "classifier"
    values: tuple[float, ...] = ()  # per variation, for mdn; nominal is 0
    use_label: bool = True
    components: int = 5
    keep: str = "best"  # the adversarial epoch kept: best by the search objective, or the last

    @property
    def n_outputs(self) -> int:
        return 3 * self.components if self.kind == "mdn" else 1 + len(self.variations)


@dataclass(frozen=True)
class AdversaryData:
    """Standardised features, class labels, adversary targets and weights, as tensors."""

    x: torch.Tensor
    label: torch.Tensor
    target: torch.Tensor  # variation index (long) or nuisance value (float)
    w: torch.Tensor

    @property
    def target_scale(self) -> float:
        """The weighted standard deviation of a nuisance-value target (1 for a variation index)."""
        if self.target.dtype == torch.long:
            return 1.0
        w = self.w.double()
        mean = (w * self.target).sum() / w.sum()
        return float(torch.sqrt((w * (self.target - mean) ** 2).sum() / w.sum()))

    def __len__(self) -> int:
        return len(self.label)

    @classmethod
    def from_sets(cls, sets: TrainingSets, split: str, spec: AdversarySpec, negative: str) -> AdversaryData:
        """Nominal and varied events of the datasets every chosen variation affects; each target
        class gets the same total weight, signal and background balanced inside it."""
        common = set.intersection(*(set(sets.affected[v]) for v in spec.variations))
        if not common:
            msg = f"no dataset has a varied version under all of {list(spec.variations)}; choose adversary.variations"
            raise TrainingError(msg)
        parts = [(sets.splits[split], 0)] + [(sets.varied[split][v], i + 1) for i, v in enumerate(spec.variations)]
        xs, labels, targets, weights = [], [], [], []
        for arrays, index in parts:
            keep = np.isin(arrays.dataset, sorted(common))
            w = training_weights(arrays.labels[keep], arrays.weights[keep], 1.0, negative).astype(np.float64)
            xs.append(arrays.x_tensor[torch.as_tensor(keep, device=arrays.x_tensor.device)])
            labels.append(arrays.labels[keep])
            targets.append(_targets(arrays, keep, index, spec))
            weights.append(w / w.sum())
        device = xs[0].device
        target_dtype = torch.long if spec.kind == "classifier" else torch.float32
        return cls(
            x=torch.cat(xs),
            label=torch.as_tensor(np.concatenate(labels).astype(np.float32), device=device),
            target=torch.as_tensor(np.concatenate(targets), dtype=target_dtype, device=device),
            w=torch.as_tensor(
                np.concatenate(weights) * len(np.concatenate(labels)) / len(parts), dtype=torch.float32, device=device
            ),
        )


def _targets(arrays: SplitArrays, keep: np.ndarray, index: int, spec: AdversarySpec) -> np.ndarray:
    """Variation index (classifier) or nuisance value (mdn): the event's own value when the data
    carry one, else the variation's value from the config (0 for nominal events)."""
    n = int(keep.sum())
    if spec.kind == "classifier":
        return np.full(n, index)
    constant = 0.0 if index == 0 else spec.values[index - 1]
    if arrays.nuisance is None:
        values = np.full(n, constant)
    else:
        own = arrays.nuisance[keep]
        values = np.where(np.isfinite(own), own, constant)
    if not np.all(np.isfinite(values)):
        name = "nominal" if index == 0 else spec.variations[index - 1]
        msg = f"variation '{name}' has no nuisance value: give adversary.values or a per-event 'nuisance'"
        raise TrainingError(msg)
    return values


class Adversary(nn.Module):
    """An MLP on (classifier output[, class label]) giving class logits or mixture parameters."""

    def __init__(self, spec: AdversarySpec, params: TrainParams, target_scale: float = 1.0) -> None:
        super().__init__()
        self.spec = spec
        # The narrowest mixture component, in units of the nuisance values' spread. Unbounded
        # below, components collapse onto discrete values (three variations: z = -1, 0, +1) and
        # the adversary's gradient to the classifier turns to noise: on the pivot toy of Louppe,
        # Kagan and Cranmer the output's JSD then fell 6x instead of 19x (see the robustness guide).
        self.min_log_sigma = math.log(MDN_MIN_WIDTH * target_scale) if target_scale > 0 else -5.0
        layers: list[nn.Module] = []
        width = 2 if spec.use_label else 1
        for _ in range(params.adv_layers):
            layers += [nn.Linear(width, params.adv_units), nn.ReLU()]
            width = params.adv_units
        layers.append(nn.Linear(width, spec.n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, score: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        inputs = torch.stack([score, label], dim=1) if self.spec.use_label else score.unsqueeze(1)
        return self.net(inputs)

    def fit_step(
        self, optimizer: torch.optim.Optimizer, score: torch.Tensor, data: AdversaryData, idx: torch.Tensor
    ) -> None:
        """One optimiser step on the events ``idx`` of ``data``, given the classifier ``score``."""
        loss = self.loss(self(score, data.label[idx]), data.target[idx], data.w[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def loss(self, outputs: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Weighted negative log-likelihood of the target (cross-entropy, or the mixture density)."""
        if self.spec.kind == "classifier":
            nll = nn.functional.cross_entropy(outputs, target, reduction="none")
        else:
            logit_pi, mu, log_sigma = outputs.chunk(3, dim=1)
            log_sigma = log_sigma.clamp(self.min_log_sigma, self.min_log_sigma + 4.0)
            z = target.unsqueeze(1)
            log_n = -0.5 * ((z - mu) / log_sigma.exp()) ** 2 - log_sigma - 0.5 * math.log(2 * math.pi)
            nll = -torch.logsumexp(torch.log_softmax(logit_pi, dim=1) + log_n, dim=1)
        return (nll * w).sum() / w.sum()


def adversary_loss(model: nn.Module, adversary: Adversary, data: AdversaryData) -> float:
    """The adversary's weighted loss on ``data`` (eval mode, no gradients)."""
    score = torch.sigmoid(predict_logits(model, data.x))
    adversary.eval()
    with torch.inference_mode():
        loss = float(adversary.loss(adversary(score, data.label), data.target, data.w))
    adversary.train()
    return loss


def spec_from_config(adversary: AdversaryConfig, variation_names: tuple[str, ...]) -> AdversarySpec:
    """An :class:`AdversarySpec` from the config's ``adversary`` section (default: all variations)."""
    chosen = tuple(adversary.variations) if adversary.variations is not None else variation_names
    # NaN where the variation's events carry their own value (a per-event 'nuisance' expression)
    values = tuple(float(adversary.values.get(v, "nan")) for v in chosen) if adversary.kind == "mdn" else ()
    return AdversarySpec(chosen, adversary.kind, values, adversary.use_label, adversary.components, adversary.keep)


def probe_adversary_auc(
    model: nn.Module, sets: TrainingSets, spec: AdversarySpec, params: TrainParams, *, seed: int = 0, epochs: int = 5
) -> float:
    """How well a fresh adversary tells nominal from varied events by the classifier output.

    A classifier-kind adversary is trained on the frozen classifier's output on the validation
    split and scored on the test split: the weighted ROC AUC of "varied" vs. "nominal" with
    1 - P(nominal) as its score. 0.5 means the output carries no trace of the variations.
    """
    from hepopt.stats.metrics import weighted_roc_auc

    probe_spec = AdversarySpec(spec.variations, "classifier", (), spec.use_label)
    fit, check = (AdversaryData.from_sets(sets, split, probe_spec, "abs") for split in ("validation", "test"))
    device = fit.x.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        probe = Adversary(probe_spec, params).to(device)
        optimizer = torch.optim.Adam(probe.parameters(), lr=3e-3)
        frozen = torch.sigmoid(predict_logits(model, fit.x))
        shuffle = torch.Generator(device=device).manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(len(fit), generator=shuffle, device=device)
            for lo in range(0, len(fit), 1024):
                probe.fit_step(optimizer, frozen[order[lo : lo + 1024]], fit, order[lo : lo + 1024])
    probe.eval()
    with torch.inference_mode():
        outputs = probe(torch.sigmoid(predict_logits(model, check.x)), check.label)
        varied_score = 1.0 - torch.softmax(outputs, dim=1)[:, 0]
    is_varied = (check.target > 0).cpu().numpy().astype(np.int8)
    return weighted_roc_auc(varied_score.cpu().numpy(), is_varied, check.w.cpu().numpy())
