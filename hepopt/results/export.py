"""The chosen classifier as files other programs run: TorchScript, ONNX, and a JSON description.

Both model files take the raw input variables (float32, ``[events, variables]`` in the order of
the description) and give the signal probability per event: the input scaling is baked in, so a
C++ analysis (libtorch, ONNX Runtime in CMSSW) or a Python one without hepopt needs nothing else.

TorchScript is deprecated in recent torch releases (it still loads everywhere libtorch runs);
ONNX is the long-lived format.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import platform
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hepopt.training.classifier import Classifier

INPUT_NAME = "features"
OUTPUT_NAME = "signal_probability"
FORMATS = ("torchscript", "onnx")
FILES = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx", "description": "model.json"}


class StandaloneModel(nn.Module):
    """Raw variables -> standardisation -> network -> sigmoid, in eval mode."""

    mean: torch.Tensor  # buffers, typed for the checker
    scale: torch.Tensor

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.net = classifier.model
        self.register_buffer("mean", torch.as_tensor(classifier.scaler.mean, dtype=torch.float32).clone())
        self.register_buffer("scale", torch.as_tensor(classifier.scaler.scale, dtype=torch.float32).clone())
        self.eval()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net((features - self.mean) / self.scale)).squeeze(-1)


def export_classifier(
    classifier: Classifier,
    folder: Path,
    *,
    formats: Sequence[str] = FORMATS,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``formats`` and ``model.json`` (variables, scaling, hyperparameters, versions,
    file hashes, and ``metadata`` such as the objective value and the data fingerprint)."""
    from hepopt import __version__

    folder.mkdir(parents=True, exist_ok=True)
    model = StandaloneModel(classifier).cpu()
    example = torch.as_tensor(classifier.scaler.mean, dtype=torch.float32).reshape(1, -1).repeat(4, 1)
    files: dict[str, Path] = {}
    if "torchscript" in formats:
        files["torchscript"] = folder / FILES["torchscript"]
        torchscript = _torchscript(model, example)
        torch.jit.save(torchscript, str(files["torchscript"]))
    if "onnx" in formats:
        files["onnx"] = folder / FILES["onnx"]
        _export_onnx(model, example, files["onnx"])
    description = {
        "format": "hepopt-exported-classifier",
        "hepopt_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "input": {"name": INPUT_NAME, "dtype": "float32", "shape": ["events", len(classifier.feature_names)]},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["events"], "meaning": "P(signal)"},
        "variables": list(classifier.feature_names),
        "scaling": {
            "mean": [float(v) for v in classifier.scaler.mean],
            "scale": [float(v) for v in classifier.scaler.scale],
            "applied_inside": True,
        },
        "hyperparameters": classifier.params.to_dict(),
        "files": {kind: {"name": path.name, "sha256": _sha256(path)} for kind, path in files.items()},
        **(metadata or {}),
    }
    files["description"] = folder / FILES["description"]
    files["description"].write_text(json.dumps(description, indent=2) + "\n")
    return files


def _torchscript(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """Scripted (keeps any control flow); a team's module that cannot be scripted is traced on
    ``example`` (its output then must not branch on the data; the export tests compare outputs)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # see the module docstring
        try:
            return torch.jit.script(model)
        except Exception:  # noqa: BLE001 - scripting fails in many ways for arbitrary modules
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            return torch.jit.trace(model, (example,))


def _export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """torch.export-based ONNX export, with a dynamic number of events."""
    events = torch.export.Dim("events")
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)  # e.g. "torchvision is not installed": not our concern
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporter's chatter
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            program = torch.onnx.export(
                model,
                (example,),
                dynamic_shapes={"features": {0: events}},
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                verbose=False,
            )
    finally:
        logger.setLevel(level)
    if program is None:
        msg = "torch.onnx.export returned no program"
        raise RuntimeError(msg)
    program.save(str(path))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
