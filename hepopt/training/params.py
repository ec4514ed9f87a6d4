"""Hyperparameters of the built-in MLP classifier and its training, with their defaults.

The defaults are the baseline every search is compared against: a 3 x 64 ReLU network trained
with Adam (lr 1e-3, constant), batches of 512, up to 50 epochs with early stopping after 5 without
improvement of the validation loss, and no adversary (``adv_lambda`` 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

ACTIVATIONS = ("relu", "tanh", "elu", "silu", "leaky_relu", "gelu")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")  # built in hepopt.training.optimizers
SCHEDULES = ("constant", "cosine", "step")


@dataclass(frozen=True)
class TrainParams:
    n_layers: int = 3
    units: int = 64
    layer_units: tuple[int, ...] = ()  # one width per hidden layer; empty: `units` for each
    activation: str = "relu"
    dropout: float = 0.0
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
    # Adversarial training (Louppe, Kagan, Cranmer 2017); adv_lambda = 0 trains without adversary.
    adv_lambda: float = 0.0
    adv_steps: int = 5
    adv_layers: int = 2
    adv_units: int = 32
    adv_learning_rate: float = 1e-3
    adv_pretrain_epochs: int = 3
    adv_epochs: int = 10

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> TrainParams:
        """Build from sampled/fixed values; unknown names raise ``KeyError`` naming them."""
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise KeyError(unknown)
        types = {f.name: type(f.default) for f in fields(cls)}
        converted = {k: tuple(int(u) for u in v) if k == "layer_units" else types[k](v) for k, v in values.items()}
        return cls(**converted)

    @property
    def widths(self) -> tuple[int, ...]:
        """The hidden layers' widths."""
        return self.layer_units or (self.units,) * self.n_layers

    def __post_init__(self) -> None:
        # JSON and to_dict() give a list; the frozen params keep a tuple (hashable, comparable).
        object.__setattr__(self, "layer_units", tuple(int(u) for u in self.layer_units))
        checks = {
            "n_layers": self.n_layers >= 1,
            "units": self.units >= 1,
            "layer_units": not self.layer_units
            or (len(self.layer_units) == self.n_layers and all(u >= 1 for u in self.layer_units)),
            "activation": self.activation in ACTIVATIONS,
            "dropout": 0.0 <= self.dropout < 1.0,
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
            "adv_lambda": self.adv_lambda >= 0.0,
            "adv_steps": self.adv_steps >= 1,
            "adv_layers": self.adv_layers >= 1,
            "adv_units": self.adv_units >= 1,
            "adv_learning_rate": self.adv_learning_rate > 0.0,
            "adv_pretrain_epochs": self.adv_pretrain_epochs >= 0,
            "adv_epochs": self.adv_epochs >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            name = bad[0]
            choices = {"activation": ACTIVATIONS, "optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES}.get(name)
            allowed = f" (one of {list(choices)})" if choices else ""
            msg = f"invalid value {getattr(self, name)!r} for '{name}'{allowed}"
            raise ValueError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (a list for ``layer_units``), as JSON and the config write them."""
        return {**asdict(self), "layer_units": list(self.layer_units)}
