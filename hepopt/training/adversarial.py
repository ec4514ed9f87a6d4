"""The minimax game of adversarial training: the classifier minimises L_clf - lambda * L_adv
while the adversary (see :mod:`hepopt.training.adversary`) minimises L_adv.

As in "Learning to Pivot": the classifier is pre-trained alone, the adversary is pre-trained on
the frozen classifier, then ``adv_steps`` adversary updates alternate with each classifier
update. :class:`AdversarialGame` plays it one epoch at a time and its whole state (both networks,
both optimisers, the batch stream) goes into a checkpoint, so population-based training can
resume a member, copy another's state, and change lambda or the learning rate between epochs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from hepopt.errors import TrainingError
from hepopt.models.params import TrainParams
from hepopt.training.adversary import Adversary, AdversaryData, AdversarySpec, adversary_loss
from hepopt.training.optimizers import make_optimizer
from hepopt.training.trainer import (
    Batchable,
    EpochCallback,
    TrainResult,
    evaluate_loss,
    predict_logits,
    train_classifier,
    weighted_bce,
)


class AdversarialGame:
    """A (pre-trained) classifier, its adversary, their optimisers and the adversary's batch
    stream. The adversary is initialised from torch's global generator: seed it first."""

    def __init__(
        self,
        model: nn.Module,
        params: TrainParams,
        train: Batchable,
        adv_train: AdversaryData,
        spec: AdversarySpec,
        seed: int,
    ) -> None:
        device = train.x.device
        self.model, self.train, self.adv_train = model, train, adv_train
        self.adversary = Adversary(spec, params, adv_train.target_scale).to(device)
        self.adv_opt = torch.optim.Adam(self.adversary.parameters(), lr=params.adv_learning_rate)
        self.clf_opt = make_optimizer(model.parameters(), params)
        self.shuffle = torch.Generator(device=device).manual_seed(seed + 2)
        self.params = params
        self.order: torch.Tensor | None = None  # adversary batches run on across epochs
        self.cursor = 0

    def set_params(self, params: TrainParams) -> None:
        """Take new trainable settings (lambda, learning rates, batch size) for the next epochs."""
        self.params = params
        for group in self.clf_opt.param_groups:
            group["lr"] = params.learning_rate
        for group in self.adv_opt.param_groups:
            group["lr"] = params.adv_learning_rate

    def _adv_order(self) -> torch.Tensor:
        return torch.randperm(len(self.adv_train), generator=self.shuffle, device=self.train.x.device)

    def pretrain_adversary(self) -> None:
        """``adv_pretrain_epochs`` of the adversary alone on the frozen classifier (its output is
        computed once)."""
        bs = self.params.batch_size
        frozen = torch.sigmoid(predict_logits(self.model, self.adv_train.x))
        for _ in range(self.params.adv_pretrain_epochs):
            order = self._adv_order()
            for lo in range(0, len(self.adv_train), bs):
                idx = order[lo : lo + bs]
                self.adversary.fit_step(self.adv_opt, frozen[idx], self.adv_train, idx)

    def epoch(self) -> None:
        """One pass over the classifier's training data, ``adv_steps`` adversary steps per
        classifier step."""
        model, adversary, adv_train, params = self.model, self.adversary, self.adv_train, self.params
        bs = params.batch_size
        if self.order is None:
            self.order, self.cursor = self._adv_order(), 0
        model.train()
        clf_order = torch.randperm(len(self.train), generator=self.shuffle, device=self.train.x.device)
        for lo in range(0, len(self.train), bs):
            for _ in range(params.adv_steps):
                if self.cursor + bs > len(self.order):
                    self.order, self.cursor = self._adv_order(), 0
                idx = self.order[self.cursor : self.cursor + bs]
                self.cursor += bs
                with torch.no_grad():
                    score = torch.sigmoid(model(adv_train.x[idx]).squeeze(1))
                adversary.fit_step(self.adv_opt, score, adv_train, idx)
            batch = clf_order[lo : lo + bs]
            idx = self.order[self.cursor : self.cursor + bs] if self.cursor + bs <= len(self.order) else self.order[:bs]
            clf_loss = weighted_bce(model(self.train.x[batch]).squeeze(1), self.train.y[batch], self.train.w[batch])
            score = torch.sigmoid(model(adv_train.x[idx]).squeeze(1))
            adv_loss = adversary.loss(adversary(score, adv_train.label[idx]), adv_train.target[idx], adv_train.w[idx])
            self.clf_opt.zero_grad(set_to_none=True)
            (clf_loss - params.adv_lambda * adv_loss).backward()
            self.clf_opt.step()

    def validation_losses(self, val: Batchable, adv_val: AdversaryData) -> tuple[float, float]:
        """Classifier and adversary losses on validation data.

        Raises:
            TrainingError: either is NaN or infinite.
        """
        val_clf = evaluate_loss(self.model, val)
        val_adv = adversary_loss(self.model, self.adversary, adv_val)
        if not (math.isfinite(val_clf) and math.isfinite(val_adv)):
            msg = f"adversarial training diverged (classifier loss {val_clf}, adversary loss {val_adv})"
            raise TrainingError(msg)
        return val_clf, val_adv

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors and numbers only: loadable with ``torch.load(weights_only=True)``."""
        return {
            "model": self.model.state_dict(),
            "adversary": self.adversary.state_dict(),
            "clf_optimizer": self.clf_opt.state_dict(),
            "adv_optimizer": self.adv_opt.state_dict(),
            "shuffle": self.shuffle.get_state(),
            "order": self.order,
            "cursor": self.cursor,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.adversary.load_state_dict(state["adversary"])
        self.clf_opt.load_state_dict(state["clf_optimizer"])
        self.adv_opt.load_state_dict(state["adv_optimizer"])
        self.shuffle.set_state(state["shuffle"])
        self.order, self.cursor = state["order"], int(state["cursor"])


def train_adversarial(
    params: TrainParams,
    train: Batchable,
    val: Batchable,
    adv_train: AdversaryData,
    adv_val: AdversaryData,
    spec: AdversarySpec,
    *,
    seed: int = 0,
    select: Callable[[nn.Module], float] | None = None,
    on_epoch: EpochCallback | None = None,
) -> tuple[TrainResult, Adversary]:
    """Pre-train the classifier, pre-train the adversary, then play ``adv_epochs`` epochs of the
    game with loss L_clf - adv_lambda * L_adv.

    The minimax game does not settle: the classifier wanders from epoch to epoch. With ``select``
    (a score of the classifier on validation data, higher is better, e.g. the search objective),
    the adversarial epoch with the best score is kept, as early stopping keeps the best epoch of
    plain training; without it the last epoch is kept, as in the paper.

    Returns the classifier (in eval mode, its history extended by the adversarial epochs, with
    ``adv_loss``, ``combined_loss`` and ``selection_score``) and the trained adversary.

    Raises:
        TrainingError: a loss became NaN or infinite.
    """
    result = train_classifier(params, train, val, seed=seed, on_epoch=on_epoch)  # pruning acts here
    model = result.model
    device = train.x.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed + 1)
        game = AdversarialGame(model, params, train, adv_train, spec, seed)
        game.pretrain_adversary()
        best_score, best_state = -math.inf, None
        for epoch in range(params.adv_epochs):
            game.epoch()
            try:
                val_clf, val_adv = game.validation_losses(val, adv_val)
            except TrainingError as error:
                msg = f"{error} at adversarial epoch {epoch + 1}"
                raise TrainingError(msg) from None
            entry = {
                "epoch": len(result.history) + 1,
                "val_loss": val_clf,
                "adv_loss": val_adv,
                "combined_loss": val_clf - params.adv_lambda * val_adv,
            }
            if select is not None:
                entry["selection_score"] = score = select(model)
                if score > best_score:
                    best_score, result.best_epoch = score, len(result.history)
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            result.history.append(entry)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result, game.adversary
