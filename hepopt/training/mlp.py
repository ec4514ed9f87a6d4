"""The built-in classifier: a fully connected network giving one logit per event."""

from __future__ import annotations

from torch import nn

from hepopt.training.params import TrainParams

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


def build_mlp(n_inputs: int, params: TrainParams) -> nn.Sequential:
    """``n_layers`` hidden layers (``units`` each, or ``layer_units``), activation and dropout,
    then one logit."""
    layers: list[nn.Module] = []
    width = n_inputs
    for units in params.widths:
        layers += [nn.Linear(width, units), _ACTIVATIONS[params.activation]()]
        if params.dropout > 0:
            layers.append(nn.Dropout(params.dropout))
        width = units
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)
