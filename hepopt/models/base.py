"""What a model family is: how hepopt builds (or fits) one classifier from its hyperparameters.

A family declares its own architecture hyperparameters with their defaults (``parameters``), checks
values it cannot build (``check``), and builds a torch module giving one logit per event
(``build``). hepopt's trainer then trains it like the built-in MLP: weighted loss, early stopping,
pruning, the adversary, population-based fine-tuning; and the objectives, the elimination and the
export see only the module. A family that is not trained by gradient descent (the boosted-tree
baseline) sets ``gradient_trained = False`` and implements :meth:`fit` instead, still giving a
torch module, so that everything after the training is the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn


@dataclass(frozen=True)
class Batchable:
    """Standardised features, labels and training weights as tensors on one device."""

    x: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor

    @classmethod
    def from_numpy(cls, x: np.ndarray, y: np.ndarray, w: np.ndarray, device: str | torch.device) -> Batchable:
        import numpy as np
        import torch

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a, dtype=np.float32), device=device)

        return cls(tensor(x), tensor(y), tensor(w))

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class TrainResult:
    """A trained (or fit) model, its per-epoch history and the epoch it was kept at."""

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0

    @property
    def best_val_loss(self) -> float:
        return self.history[self.best_epoch]["val_loss"]


class FitParams(Protocol):
    """What :meth:`ModelFamily.fit` is given: a :class:`hepopt.models.params.TrainParams` (the
    family's architecture values in ``arch``, the training's by name; those read here and more)."""

    @property
    def arch(self) -> Mapping[str, Any]: ...
    @property
    def learning_rate(self) -> float: ...
    @property
    def max_epochs(self) -> int: ...
    @property
    def patience(self) -> int: ...
    @property
    def batch_size(self) -> int: ...


class ModelFamily(ABC):
    """Subclass, set ``name`` (the entry-point name) and ``parameters``, implement :meth:`build`.

    Register it in the package's ``pyproject.toml``::

        [project.entry-points."hepopt.models"]
        my_net = "my_package.models:MyNet"

    or name it in the config as ``model: {family: "my_package.models:MyNet"}``.
    """

    name: ClassVar[str] = ""
    # The architecture hyperparameters and their defaults; the config's `model.space` may search
    # or fix them next to the training ones (learning_rate, batch_size, ...). A value's type is
    # its default's type (int, float, str, bool, or tuple of ints).
    parameters: ClassVar[Mapping[str, Any]] = {}
    # hepopt's training parameters this family uses (None: all of them), and its own defaults for
    # some (e.g. the trees' learning rate). Parameters it does not use are not in its space.
    training_parameters: ClassVar[tuple[str, ...] | None] = None
    training_defaults: ClassVar[Mapping[str, Any]] = {}
    gradient_trained: ClassVar[bool] = True

    def check(self, arch: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Raise ``ValueError("invalid value X for 'name'")`` for values the family cannot build."""

    @abstractmethod
    def build(self, n_inputs: int, arch: Mapping[str, Any]) -> nn.Module:
        """A new (untrained) module mapping standardised inputs ``(n, n_inputs)`` to logits ``(n, 1)``."""

    def from_state(self, n_inputs: int, arch: Mapping[str, Any], state: Mapping[str, Any]) -> nn.Module:
        """The module of a saved classifier (override when the shapes depend on the training)."""
        model = self.build(n_inputs, arch)
        model.load_state_dict(dict(state))
        return model

    def fit(self, params: FitParams, train: Batchable, val: Batchable, seed: int) -> TrainResult:
        """Train without hepopt's gradient loop (families with ``gradient_trained = False``)."""
        msg = f"model family {self.name!r} is trained by hepopt's trainer, not fit"
        raise NotImplementedError(msg)

    def complete(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults with ``arch`` over them, each converted to its default's type, checked.

        Raises:
            KeyError: for names the family does not have.
            ValueError: naming a value it cannot build.
        """
        unknown = sorted(set(arch) - set(self.parameters))
        if unknown:
            raise KeyError(unknown)
        values = {**self.parameters, **arch}
        converted = {name: _convert(self.parameters[name], value, name) for name, value in values.items()}
        self.check(converted)
        return converted


def _convert(default: Any, value: Any, name: str) -> Any:
    if isinstance(default, tuple):
        return tuple(int(v) for v in value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            msg = f"invalid value {value!r} for '{name}' (true or false)"
            raise ValueError(msg)  # noqa: TRY004 - the config's type error, reported as a bad value
        return value
    try:
        return type(default)(value)
    except (TypeError, ValueError) as err:
        msg = f"invalid value {value!r} for '{name}' ({type(default).__name__} expected)"
        raise ValueError(msg) from err
