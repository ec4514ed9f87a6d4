"""Hyperparameters of one classifier: its model family's architecture and its training.

The defaults are the baseline every search is compared against: the family's defaults (for the
built-in MLP a 3 x 64 ReLU network) trained with Adam (lr 1e-3, constant), batches of 512, up to
50 epochs with early stopping after 5 without improvement of the validation loss, no
adversary (``adv_lambda`` 0), and no inference-aware fine-tuning (``loss: bce``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from hepopt.models.registry import model_family

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")  # built in hepopt.training.optimizers
LOSSES = ("bce", "inference_aware")  # see hepopt.training.inference_aware
SCHEDULES = ("constant", "cosine", "step")


@dataclass(frozen=True)
class TrainParams:
    """``family`` names the model family, ``arch`` holds its architecture hyperparameters (its
    defaults filled in); the other fields are the training's. :meth:`to_dict` and
    :meth:`from_mapping` give and take them all as one flat mapping, as the config writes them."""

    family: str = "mlp"
    arch: Mapping[str, Any] = field(default_factory=dict)
    l1: float = 0.0
    l2: float = 0.0
    batch_size: int = 512
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    optimizer: str = "adam"
    momentum: float = 0.9  # sgd and rmsprop
    weight_decay: float = 0.0  # decoupled for adamw, torch's L2 term for the others
    lr_schedule: str = "constant"
    lr_decay: float = 0.5  # step schedule: the learning rate times this every lr_step epochs
    lr_step: int = 10
    signal_weight: float = 1.0
    max_epochs: int = 50
    patience: int = 5
    min_delta: float = 0.0  # early stopping: an epoch is better only by more than this
    # Adversarial training (Louppe, Kagan, Cranmer 2017); adv_lambda = 0 trains without adversary.
    adv_lambda: float = 0.0
    adv_steps: int = 5
    adv_layers: int = 2
    adv_units: int = 32
    adv_learning_rate: float = 1e-3
    adv_pretrain_epochs: int = 3
    adv_epochs: int = 10
    # Inference-aware training (INFERNO): after the classifier's training, ia_epochs more that
    # minimise the expected profiled uncertainty on mu (soft bins of width ia_temperature).
    loss: str = "bce"
    ia_epochs: int = 20
    ia_temperature: float = 0.05
    ia_batch_size: int = 2000
    ia_learning_rate: float = 1e-3

    @classmethod
    def training_names(cls, family: str | None = None) -> tuple[str, ...]:
        """The training parameters (those ``family`` uses, when given)."""
        names = tuple(f.name for f in fields(cls) if f.name not in ("family", "arch"))
        used = model_family(family).training_parameters if family is not None else None
        return names if used is None else tuple(n for n in names if n in used)

    @classmethod
    def names(cls, family: str = "mlp") -> tuple[str, ...]:
        """Every hyperparameter of ``family``: its architecture's, then the training's it uses."""
        return (*model_family(family).parameters, *cls.training_names(family))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainParams:
        """Build from flat sampled/fixed values (``family`` among them, else the MLP); unknown
        names raise ``KeyError`` naming them, bad values ``ValueError`` naming the parameter.
        Training parameters not given take the family's ``training_defaults``, then hepopt's."""
        family = str(values.get("family", "mlp"))
        kind = model_family(family)
        architecture = kind.parameters
        values = {**kind.training_defaults, **values}
        training = cls.training_names(family)
        unknown = sorted(set(values) - {"family", *architecture, *training})
        if unknown:
            raise KeyError(unknown)
        types: dict[str, Callable[[Any], Any]] = {f.name: type(f.default) for f in fields(cls)}
        return cls(
            family=family,
            arch={k: v for k, v in values.items() if k in architecture},
            **{k: types[k](v) for k, v in values.items() if k in training},
        )

    def replace_arch(self, **changes: Any) -> TrainParams:
        return TrainParams.from_mapping({**self.to_dict(), **changes})

    def __post_init__(self) -> None:
        # The family's defaults under the given values, converted and checked by the family.
        object.__setattr__(self, "arch", model_family(self.family).complete(self.arch))
        checks = {
            "l1": self.l1 >= 0.0,
            "l2": self.l2 >= 0.0,
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0.0,
            "beta1": 0.0 <= self.beta1 < 1.0,
            "beta2": 0.0 <= self.beta2 < 1.0,
            "optimizer": self.optimizer in OPTIMIZERS,
            "momentum": 0.0 <= self.momentum < 1.0,
            "weight_decay": self.weight_decay >= 0.0,
            "lr_schedule": self.lr_schedule in SCHEDULES,
            "lr_decay": 0.0 < self.lr_decay <= 1.0,
            "lr_step": self.lr_step >= 1,
            "signal_weight": self.signal_weight > 0.0,
            "max_epochs": self.max_epochs >= 1,
            "patience": self.patience >= 1,
            "min_delta": self.min_delta >= 0.0,
            "adv_lambda": self.adv_lambda >= 0.0,
            "adv_steps": self.adv_steps >= 1,
            "adv_layers": self.adv_layers >= 1,
            "adv_units": self.adv_units >= 1,
            "adv_learning_rate": self.adv_learning_rate > 0.0,
            "adv_pretrain_epochs": self.adv_pretrain_epochs >= 0,
            "adv_epochs": self.adv_epochs >= 0,
            "loss": self.loss in LOSSES,
            "ia_epochs": self.ia_epochs >= 1,
            "ia_temperature": self.ia_temperature > 0.0,
            "ia_batch_size": self.ia_batch_size >= 1,
            "ia_learning_rate": self.ia_learning_rate > 0.0,
        }
        # inf or nan passes '> 0' (a learning rate of inf is no setting): every number is finite.
        bad = [
            f.name
            for f in fields(self)
            if isinstance(getattr(self, f.name), float) and not math.isfinite(getattr(self, f.name))
        ]
        bad += [name for name, ok in checks.items() if not ok]
        if bad:
            name = bad[0]
            choices = {"optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES, "loss": LOSSES}.get(name)
            allowed = f" (one of {list(choices)})" if choices else ""
            msg = f"invalid value {getattr(self, name)!r} for '{name}'{allowed}"
            raise ValueError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Flat plain values (lists for tuples), as JSON and the config write them."""
        arch = {k: list(v) if isinstance(v, tuple) else v for k, v in self.arch.items()}
        training = {name: getattr(self, name) for name in self.training_names(self.family)}
        return {"family": self.family, **arch, **training}

    __hash__ = None  # type: ignore[assignment]  # arch is a dict
