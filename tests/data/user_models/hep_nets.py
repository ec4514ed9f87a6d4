"""An analysis team's own networks, in a module outside hepopt: what a config names as
``model: {family: "hep_nets:ResidualNet"}`` (this folder on PYTHONPATH)."""

from __future__ import annotations

from typing import Any, ClassVar

import lightning
import torch
from torch import nn

from hepopt.models import ModelFamily


class _Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.linear = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.nn.functional.silu(self.linear(self.norm(x)))


class ResidualNet(ModelFamily):
    """An input layer, ``blocks`` residual blocks ``width`` wide, one logit."""

    name = "residual_net"
    parameters: ClassVar[dict[str, Any]] = {"width": 32, "blocks": 2}

    def check(self, arch: dict[str, Any]) -> None:
        for key in ("width", "blocks"):
            if arch[key] < 1:
                msg = f"invalid value {arch[key]!r} for '{key}'"
                raise ValueError(msg)

    def build(self, n_inputs: int, arch: dict[str, Any]) -> nn.Module:
        width = arch["width"]
        blocks = [_Block(width) for _ in range(arch["blocks"])]
        return nn.Sequential(nn.Linear(n_inputs, width), *blocks, nn.Linear(width, 1))


class LightningNet(ModelFamily):
    """A LightningModule: hepopt trains it through its ``forward`` (weighted loss, early
    stopping, adversary); Lightning's own ``Trainer`` can still train it elsewhere."""

    name = "lightning_net"
    parameters: ClassVar[dict[str, Any]] = {"hidden": 16}

    def build(self, n_inputs: int, arch: dict[str, Any]) -> nn.Module:
        return LitClassifier(n_inputs, arch["hidden"])


class LitClassifier(lightning.LightningModule):
    def __init__(self, n_inputs: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_inputs, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.binary_cross_entropy_with_logits(self(x).squeeze(1), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-3)
