"""An exported model applied to an analysis' own events: the export folder's ``model.json`` says
how its inputs are computed (each variable's expression, in order, the selection it was trained
after), so the model is self-describing and the analysis needs nothing from the training config.

    model = ExportedModel.load("results/export")
    scores = model(events)                       # coffea events (NanoAOD or flat), awkward or a dict of arrays
    scores = model(events, columns={"my_var": my_var})   # variables computed by the analysis itself

Loading reads ``model.json`` and the TorchScript file (whose SHA-256 must match the one recorded);
it imports no module the file names: variables made by a feature callable must be handed over as
``columns``.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepopt.errors import DataError, StateError

DESCRIPTION = "model.json"


@dataclass(frozen=True)
class ExportedModel:
    """The exported classifier and how to compute its inputs from events."""

    folder: Path
    variables: tuple[str, ...]
    expressions: dict[str, str]  # variable -> expression; absent for a feature callable's variables
    selection: str | None
    description: dict[str, Any]

    @classmethod
    def load(cls, folder: str | Path) -> ExportedModel:
        """Read an export folder (or its ``model.json``).

        Raises:
            StateError: no description, one from an older hepopt without the input definitions,
                or a model file whose hash differs from the recorded one.
        """
        path = Path(folder)
        path = path if path.suffix == ".json" else path / DESCRIPTION
        try:
            description = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            msg = f"{path}: cannot read the exported model's description ({err})"
            raise StateError(msg) from None
        inputs = description.get("inputs")
        if not isinstance(inputs, dict):
            msg = f"{path}: no 'inputs' (feature definitions): exported by an older hepopt; export again"
            raise StateError(msg)
        return cls(
            path.parent,
            tuple(description["variables"]),
            dict(inputs.get("expressions", {})),
            inputs.get("selection"),
            description,
        )

    def features(self, events: Any, columns: Mapping[str, Any] | None = None) -> np.ndarray:
        """The model's input matrix ``[events, variables]`` (float32, unscaled: the model scales)."""
        from hepopt.data.expressions import Expression
        from hepopt.data.features import resolver, to_column

        columns = dict(columns or {})
        n = _length(events, columns)
        resolve = resolver(_as_events(events), "the events") if events is not None else None
        out = np.empty((n, len(self.variables)), dtype=np.float32)
        for i, name in enumerate(self.variables):
            if name in columns:
                value = columns[name]
            elif name in self.expressions and resolve is not None:
                value = Expression(self.expressions[name], f"model variable '{name}'").evaluate(resolve)
            else:
                msg = f"variable '{name}' comes from a feature callable: pass it in columns={{'{name}': ...}}"
                raise DataError(msg)
            out[:, i] = to_column(value, n, f"model variable '{name}'")
        return out

    def selected(self, events: Any) -> np.ndarray:
        """Boolean mask of the events that pass the selection the model was trained after."""
        from hepopt.data.expressions import Expression
        from hepopt.data.features import resolver, to_column

        n = _length(events, {})
        if self.selection is None:
            return np.ones(n, dtype=bool)
        value = Expression(self.selection, "model selection").evaluate(resolver(_as_events(events), "the events"))
        return to_column(value, n, "selection", bool)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(signal) for an input matrix (the unscaled variables, in :attr:`variables` order)."""
        import torch

        with torch.inference_mode():
            return self._module()(torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    def __call__(self, events: Any, columns: Mapping[str, Any] | None = None) -> np.ndarray:
        """P(signal) per event: the variables computed from ``events`` (and ``columns``)."""
        return self.predict(self.features(events, columns))

    def _module(self) -> Any:
        cached = _MODULES.get(self.folder)
        if cached is None:
            import torch

            entry = self.description.get("files", {}).get("torchscript")
            if entry is None:
                msg = f"{self.folder}: no TorchScript file exported (export.formats must include torchscript)"
                raise StateError(msg)
            path = self.folder / entry["name"]
            if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
                msg = f"{path}: its SHA-256 differs from the one in {DESCRIPTION}: the file was replaced; export again"
                raise StateError(msg)
            with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; the file is one
                warnings.simplefilter("ignore", DeprecationWarning)
                cached = _MODULES[self.folder] = torch.jit.load(str(path), map_location="cpu").eval()
        return cached


_MODULES: dict[Path, Any] = {}  # per process (a coffea worker): each model file loaded once


def apply(model: str | Path, events: Any, columns: Mapping[str, Any] | None = None) -> np.ndarray:
    """P(signal) of an exported model on ``events`` (see :class:`ExportedModel`)."""
    return ExportedModel.load(model)(events, columns)


def _as_events(events: Any) -> Any:
    """A dict of arrays as an awkward record array (so branch lookup works the same)."""
    if isinstance(events, Mapping):
        import awkward as ak

        return ak.zip(dict(events), depth_limit=1)
    return events


def _length(events: Any, columns: Mapping[str, Any]) -> int:
    if events is not None:
        return len(next(iter(events.values()))) if isinstance(events, Mapping) else len(events)
    if columns:
        return len(next(iter(columns.values())))
    msg = "give events or columns"
    raise DataError(msg)
