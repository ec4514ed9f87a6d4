"""A trained classifier with everything needed to apply it: network, input scaling, variable order.

Saved with ``torch.save`` as plain tensors, numbers and strings and reloaded with
``torch.load(weights_only=True)``, which runs no code from the file; nor is any module the file
names imported (a team's ``package.module:Class`` family is passed by the caller).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepopt.errors import DataError, HepoptError, StateError
from hepopt.models.base import ModelFamily
from hepopt.models.params import TrainParams
from hepopt.models.registry import family_for_file, model_family
from hepopt.training.scaler import Standardizer
from hepopt.training.trainer import predict_proba

_FORMAT = "hepopt-classifier"
_VERSION = 1


@dataclass
class Classifier:
    model: nn.Module
    scaler: Standardizer
    feature_names: tuple[str, ...]
    params: TrainParams

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Probability of being signal for raw (unscaled) features in ``feature_names`` order."""
        if features.ndim != 2 or features.shape[1] != len(self.feature_names):
            msg = f"expected features of shape (n, {len(self.feature_names)}) in the order {list(self.feature_names)}"
            raise DataError(msg)
        # Buffers too: a tree ensemble has tables, no trainable parameters.
        device = next(itertools.chain(self.model.parameters(), self.model.buffers())).device
        x = torch.as_tensor(self.scaler.transform(features), device=device)
        return predict_proba(self.model, x)

    def save(self, path: Path) -> None:
        save_payload(self.payload(), path)

    def payload(self) -> dict[str, object]:
        """Plain tensors, numbers and strings: what the file holds (and what Ray workers send)."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "family": self.params.family,
            "params": self.params.to_dict(),
            "feature_names": list(self.feature_names),
            "scaler_mean": torch.from_numpy(self.scaler.mean),
            "scaler_scale": torch.from_numpy(self.scaler.scale),
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
        }

    @classmethod
    def load(
        cls, path: Path, device: str = "cpu", family: str | type[ModelFamily] | ModelFamily | None = None
    ) -> Classifier:
        """Read a classifier file. Nothing the file names is imported: its family must be an
        installed ``hepopt.models`` entry point, or, for a ``package.module:Class`` family, be
        passed as ``family`` (that path, or the class itself).

        Raises:
            StateError: not a classifier file, or a module-path family not passed.
        """
        try:
            payload = torch.load(path, map_location=device, weights_only=True)
        except Exception as err:
            msg = f"{path}: not a loadable hepopt classifier ({type(err).__name__}: {err})"
            raise StateError(msg) from err
        if (
            not isinstance(payload, dict)
            or payload.get("format") != _FORMAT
            or not isinstance(payload.get("params"), dict)
        ):
            msg = f"{path}: not a hepopt classifier file"
            raise StateError(msg)
        name = str(payload["params"].get("family", "mlp"))
        try:
            family_for_file(name, family)
        except HepoptError as err:
            msg_0 = f"{path}: {err}"
            raise StateError(msg_0) from None
        return cls.from_payload(payload, device)

    @classmethod
    def from_payload(cls, payload: dict[str, Any], device: str = "cpu") -> Classifier:
        """Rebuild from :meth:`payload` (a file's content, or what a Ray worker sent back)."""
        params = TrainParams.from_mapping(payload["params"])
        names = tuple(payload["feature_names"])
        model = model_family(params.family).from_state(len(names), params.arch, payload["state_dict"]).to(device)
        model.eval()
        scaler = Standardizer(payload["scaler_mean"].numpy(), payload["scaler_scale"].numpy())
        return cls(model, scaler, names, params)


def save_payload(payload: dict[str, object], path: Path) -> None:
    """Write a classifier payload atomically (a killed run never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
