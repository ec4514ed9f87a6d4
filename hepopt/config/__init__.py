"""Configuration: the typed shape of ``hepopt.yaml`` and its loader."""

from __future__ import annotations

from hepopt.config.loader import config_from_dict, load_config
from hepopt.config.schema import (
    AdversaryConfig,
    DataConfig,
    DatasetConfig,
    HepoptConfig,
    ModelConfig,
    ObjectiveConfig,
    ParamSpec,
    SearchConfig,
    SplitConfig,
    TrainingConfig,
    VariationConfig,
    VariedSource,
)

__all__ = [
    "AdversaryConfig",
    "DataConfig",
    "DatasetConfig",
    "HepoptConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "ParamSpec",
    "SearchConfig",
    "SplitConfig",
    "TrainingConfig",
    "VariationConfig",
    "VariedSource",
    "config_from_dict",
    "load_config",
]
