"""The typed, frozen shape of ``hepopt.yaml``, one module per group of sections.

Unknown keys are rejected everywhere (``extra="forbid"``), so a typo such as ``n_trails`` is an
error naming the key rather than a silently ignored setting. Each field's docstring is its
description: the documentation's config reference is generated from them.
"""

from __future__ import annotations

from hepopt.config.schema.base import FileList, Section
from hepopt.config.schema.data import DataConfig, DatasetConfig, SplitConfig, VariationConfig, VariedSource
from hepopt.config.schema.model import AdversaryConfig, ModelConfig, ParamSpec, TrainingConfig
from hepopt.config.schema.root import HepoptConfig
from hepopt.config.schema.search import (
    ConstraintConfig,
    CrossValidationConfig,
    EliminateConfig,
    ExportConfig,
    FinetuneConfig,
    ObjectiveConfig,
    OvertrainingConfig,
    PruningConfig,
    SearchConfig,
)

__all__ = [
    "AdversaryConfig",
    "ConstraintConfig",
    "CrossValidationConfig",
    "DataConfig",
    "DatasetConfig",
    "EliminateConfig",
    "ExportConfig",
    "FileList",
    "FinetuneConfig",
    "HepoptConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "OvertrainingConfig",
    "ParamSpec",
    "PruningConfig",
    "SearchConfig",
    "Section",
    "SplitConfig",
    "TrainingConfig",
    "VariationConfig",
    "VariedSource",
]
