"""The classifier's optimiser and learning-rate schedule, by the names the config searches over.

Optimisers: ``adam`` (``beta1``, ``beta2``), ``adamw`` (the same, with decoupled
``weight_decay``), ``sgd`` (``momentum``, Nesterov when momentum > 0), ``rmsprop``
(``momentum``). ``weight_decay`` is torch's L2 term for the others (hepopt's ``l2`` adds an
explicit penalty on the weights instead, biases excluded). Schedules, stepped once per epoch:
``constant``; ``cosine`` (to 0 at ``max_epochs``); ``step`` (times ``lr_decay`` every ``lr_step``
epochs).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from hepopt.models.params import OPTIMIZERS, TrainParams


def make_optimizer(parameters: Iterable[torch.nn.Parameter], params: TrainParams) -> torch.optim.Optimizer:
    lr, decay = params.learning_rate, params.weight_decay
    if params.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=(params.beta1, params.beta2), weight_decay=decay)
    if params.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, betas=(params.beta1, params.beta2), weight_decay=decay)
    if params.optimizer == "sgd":
        nesterov = params.momentum > 0
        return torch.optim.SGD(parameters, lr=lr, momentum=params.momentum, nesterov=nesterov, weight_decay=decay)
    if params.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, momentum=params.momentum, weight_decay=decay)
    msg = f"unknown optimizer {params.optimizer!r}; one of {list(OPTIMIZERS)}"
    raise ValueError(msg)


def make_schedule(optimizer: torch.optim.Optimizer, params: TrainParams) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-epoch schedule, or None for a constant learning rate."""
    if params.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=params.max_epochs)
    if params.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=params.lr_step, gamma=params.lr_decay)
    return None
