"""The built-in family: a fully connected network giving one logit per event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hepopt.models.base import ModelFamily

if TYPE_CHECKING:
    from torch import nn

ACTIVATIONS = ("relu", "tanh", "elu", "silu", "leaky_relu", "gelu")


class MLP(ModelFamily):
    """``n_layers`` hidden layers (``units`` wide each, or ``layer_units`` one width per layer),
    each with its activation and dropout, then one logit. The default is 3 x 64 ReLU."""

    name = "mlp"
    parameters: ClassVar[Mapping[str, Any]] = {
        "n_layers": 3,
        "units": 64,
        "layer_units": (),  # filled from per-layer widths units_0.. (search.space `per_layer`)
        "activation": "relu",
        "dropout": 0.0,
    }

    def check(self, arch: Mapping[str, Any]) -> None:
        layer_units = arch["layer_units"]
        checks = {
            "n_layers": arch["n_layers"] >= 1,
            "units": arch["units"] >= 1,
            "layer_units": not layer_units or (len(layer_units) == arch["n_layers"] and min(layer_units) >= 1),
            "activation": arch["activation"] in ACTIVATIONS,
            "dropout": 0.0 <= arch["dropout"] < 1.0,
        }
        for name, ok in checks.items():
            if not ok:
                allowed = f" (one of {list(ACTIVATIONS)})" if name == "activation" else ""
                msg = f"invalid value {arch[name]!r} for '{name}'{allowed}"
                raise ValueError(msg)

    def build(self, n_inputs: int, arch: Mapping[str, Any]) -> nn.Sequential:
        from torch import nn

        activation = {
            "relu": nn.ReLU,
            "tanh": nn.Tanh,
            "elu": nn.ELU,
            "silu": nn.SiLU,
            "leaky_relu": nn.LeakyReLU,
            "gelu": nn.GELU,
        }[arch["activation"]]
        layers: list[nn.Module] = []
        width = n_inputs
        for units in arch["layer_units"] or (arch["units"],) * arch["n_layers"]:
            layers += [nn.Linear(width, units), activation()]
            if arch["dropout"] > 0:
                layers.append(nn.Dropout(arch["dropout"]))
            width = units
        layers.append(nn.Linear(width, 1))
        return nn.Sequential(*layers)
