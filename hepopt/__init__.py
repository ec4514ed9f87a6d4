"""hepopt: hyperparameter and input-variable optimisation of classifiers for HEP analyses.

ROOT files are read through a coffea processor, PyTorch classifiers are trained with event
weights, scored with objectives such as the pyhf Asimov discovery significance, and searched with
Optuna. Heavy submodules are imported on first use.
"""

from __future__ import annotations

from typing import Any

from hepopt.errors import ConfigError, DataError, HepoptError, PluginError, TrainingError

__version__ = "0.1.0"

__all__ = [
    "Classifier",
    "ConfigError",
    "DataError",
    "EventTable",
    "ExportedModel",
    "HepoptError",
    "Objective",
    "ObjectiveInputs",
    "ObjectiveResult",
    "PluginError",
    "TrainingError",
    "__version__",
    "apply",
    "eliminate",
    "load_config",
    "optimize",
    "prepare_data",
]

_LAZY = {
    "Classifier": "hepopt.training.classifier",
    "EventTable": "hepopt.data.table",
    "ExportedModel": "hepopt.results.exported",
    "apply": "hepopt.results.exported",
    "Objective": "hepopt.objectives.base",
    "ObjectiveInputs": "hepopt.objectives.base",
    "ObjectiveResult": "hepopt.objectives.base",
    "load_config": "hepopt.config.loader",
    "eliminate": "hepopt.api",
    "optimize": "hepopt.api",
    "prepare_data": "hepopt.data.stage",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'hepopt' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(__all__)
