"""Weighted training of one classifier, with early stopping on the validation loss.

The whole data set stays as tensors on the device; an epoch is one permutation and slices of it,
with no DataLoader and no per-event Python work.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from hepopt.errors import TrainingError
from hepopt.models.base import Batchable, TrainResult
from hepopt.models.params import TrainParams
from hepopt.models.registry import model_family
from hepopt.training.optimizers import make_optimizer, make_schedule

# (epoch, training loss, validation loss, model): may raise to stop the training (pruning).
EpochCallback = Callable[[int, float, float, nn.Module], None]


def training_weights(label: np.ndarray, weight: np.ndarray, signal_weight: float, negative: str) -> np.ndarray:
    """Physics weights -> training weights.

    Each class is normalised to half the events (so a rare signal is not ignored), the signal
    then multiplied by ``signal_weight``; negative generator weights are kept, made positive
    (``abs``, the default) or dropped (``zero``) for training only.
    """
    w = weight.astype(np.float64)
    if negative == "abs":
        w = np.abs(w)
    elif negative == "zero":
        w = np.where(w < 0, 0.0, w)
    out = np.empty_like(w)
    for cls, factor in ((1, signal_weight), (0, 1.0)):
        mask = label == cls
        if not mask.any():  # e.g. an adversary's events when the variations touch only the background
            continue
        total = w[mask].sum()
        if total <= 0:
            msg = f"the {'signal' if cls else 'background'} training weights sum to {total:g}; cannot train"
            raise TrainingError(msg)
        out[mask] = w[mask] * (0.5 * len(w) / total) * factor
    return out.astype(np.float32)


def weighted_bce(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    losses = nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
    return (losses * w).sum() / w.sum()


def build_model(n_inputs: int, params: TrainParams) -> nn.Module:
    """A new, untrained module of ``params.family`` with its architecture hyperparameters."""
    return model_family(params.family).build(n_inputs, params.arch)


def train_classifier(
    params: TrainParams,
    train: Batchable,
    val: Batchable,
    *,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    monitor: Callable[[nn.Module], float] | None = None,
) -> TrainResult:
    """Train a model of ``params.family`` with the optimiser and schedule of ``params`` (a family
    not trained by gradient descent fits itself); returns it with the weights of its best
    validation epoch, in eval mode.

    Early stopping watches the validation loss, or ``monitor(model)`` (higher is better, e.g. the
    objective on validation) when given: training stops after ``params.patience`` epochs without
    an improvement larger than ``params.min_delta``.

    Raises:
        TrainingError: the loss became NaN or infinite (the search records the trial as failed).
    """
    family = model_family(params.family)
    if not family.gradient_trained:
        return family.fit(params, train, val, seed)
    start = time.perf_counter()
    device = train.x.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = build_model(train.x.shape[1], params).to(device)
        optimizer = make_optimizer(model.parameters(), params)
        schedule = make_schedule(optimizer, params)
        shuffle = torch.Generator(device=device).manual_seed(seed)
        penalised = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
        result = TrainResult(model)
        best_state, best_score, since_best = None, float("inf"), 0
        for epoch in range(params.max_epochs):
            train_loss = train_epoch(model, optimizer, train, params, shuffle, penalised)
            if schedule is not None:
                schedule.step()
            val_loss = evaluate_loss(model, val)
            if not (np.isfinite(train_loss) and np.isfinite(val_loss)):
                msg = f"loss diverged at epoch {epoch + 1} (train {train_loss}, validation {val_loss})"
                raise TrainingError(msg)
            result.history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss})
            if on_epoch is not None:
                on_epoch(epoch + 1, train_loss, val_loss, model)
            score = val_loss if monitor is None else -monitor(model)  # lower is better
            if monitor is not None:
                result.history[-1]["monitored"] = -score
            if score < best_score - params.min_delta or best_state is None:
                best_score, since_best, result.best_epoch = score, 0, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since_best += 1
                if since_best >= params.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Batchable,
    params: TrainParams,
    shuffle: torch.Generator,
    penalised: list[torch.Tensor],
) -> float:
    """One pass over ``data`` in shuffled batches; returns the mean training loss (with the L1/L2
    penalties on ``penalised``)."""
    model.train()
    order = torch.randperm(len(data), generator=shuffle, device=data.x.device)
    # One gather per epoch, then batches are views: cheaper than indexing every batch.
    x, y, w = data.x[order], data.y[order], data.w[order]
    total = torch.zeros((), device=data.x.device)
    n_batches = 0
    for lo in range(0, len(data), params.batch_size):
        hi = lo + params.batch_size
        logits = model(x[lo:hi]).squeeze(1)
        loss = weighted_bce(logits, y[lo:hi], w[lo:hi])
        if params.l1 > 0:
            loss = loss + params.l1 * sum(p.abs().sum() for p in penalised)
        if params.l2 > 0:
            loss = loss + params.l2 * sum(p.pow(2).sum() for p in penalised)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach()
        n_batches += 1
    return float(total) / n_batches


def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 65_536) -> torch.Tensor:
    """Logits in eval mode without gradients, so repeated calls give identical numbers."""
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        out = torch.cat([model(x[i : i + batch_size]).squeeze(1) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def evaluate_loss(model: nn.Module, data: Batchable) -> float:
    return float(weighted_bce(predict_logits(model, data.x), data.y, data.w))


def predict_proba(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Classifier output in [0, 1] (float64 numpy, for histograms and metrics)."""
    return torch.sigmoid(predict_logits(model, x)).cpu().numpy().astype(np.float64)
