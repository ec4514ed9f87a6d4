"""The root of ``hepopt.yaml``: the analysis, its samples and features, and every section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, field_validator

from hepopt.config.schema.base import Section
from hepopt.config.schema.data import DataConfig, DatasetConfig, VariationConfig
from hepopt.config.schema.model import AdversaryConfig, ModelConfig, TrainingConfig
from hepopt.config.schema.search import (
    ConstraintConfig,
    EliminateConfig,
    ExportConfig,
    FinetuneConfig,
    ObjectiveConfig,
    PlotsConfig,
    SearchConfig,
)


class HepoptConfig(Section):
    """The whole ``hepopt.yaml``."""

    name: str = Field(default="hepopt", pattern=r"^[A-Za-z0-9_.-]+$")
    """The study's name (letters, digits, ``_.-``)."""
    output: str = "results"
    """The output folder, relative to the config's folder."""
    seed: int = 42
    """Seeds the split, the trainings and the sampler."""
    luminosity: float | None = Field(default=None, gt=0)
    """Integrated luminosity in pb^-1, for the datasets with a ``cross_section``."""
    datasets: dict[str, DatasetConfig] = Field(min_length=1)
    """The samples, by name."""
    fileset: str | dict[str, Any] | None = None
    """A coffea fileset (a JSON or YAML file, relative to the config's folder, or in Python the dict
    itself) whose entries fill ``datasets`` and ``variations``: files, tree and the metadata
    ``xsec``, ``role``, ``sum_weights``, ``weight``; ``metadata.variation`` with ``metadata.dataset``
    marks a varied sample; ``isData`` entries are skipped. ``datasets.<name>`` may add or override
    settings."""
    variations: dict[str, VariationConfig] = {}
    """Systematic variations, by name (``x_up``/``x_down`` pair into one nuisance parameter)."""
    features: list[str | dict[str, str]] = Field(min_length=1)
    """Input variables: a branch or expression, ``name: expression``, or ``callable: pkg.module:func``."""
    selection: str | None = None
    """Events kept: a boolean expression over the branches."""
    data: DataConfig = DataConfig()
    """How the coffea data stage runs."""
    model: ModelConfig = ModelConfig()
    """The model family and its search space."""
    training: TrainingConfig = TrainingConfig()
    """How each classifier trains."""
    adversary: AdversaryConfig | None = None
    """Adversarial training against the variations (none: plain training)."""
    objective: ObjectiveConfig = ObjectiveConfig()
    """What the search optimises."""
    objectives: list[ObjectiveConfig] | None = Field(default=None, min_length=2)
    """Several objectives: a multi-objective study with a Pareto front (instead of ``objective``)."""
    constraints: list[ConstraintConfig] = []
    """Objectives a classifier must keep within bounds to count."""
    search: SearchConfig = SearchConfig()
    """The hyperparameter search."""
    finetune: FinetuneConfig | None = None
    """Population-based fine-tuning after the search (none: skipped)."""
    eliminate: EliminateConfig | None = None
    """Backward elimination of input variables before the search (none: skipped)."""
    export: ExportConfig | None = ExportConfig()
    """The exported best model (``null``: no export files)."""
    plots: PlotsConfig = PlotsConfig()
    """The plots' experiment style and label."""
    stages: list[str] | None = Field(default=None, min_length=1)
    """The stages ``hepopt optimize`` runs, in order (default: prepare, preoptimize, eliminate,
    optimize, finetune, export, those whose sections are configured); plugins add their own names."""

    @field_validator("features")
    @classmethod
    def _one_name_per_feature(cls, features: list[str | dict[str, str]]) -> list[str | dict[str, str]]:
        for entry in features:
            if isinstance(entry, dict) and len(entry) != 1:
                msg = f"each feature is an expression or one 'name: expression' (or 'callable: pkg.mod:func'), got {entry}"
                raise ValueError(msg)
            if isinstance(entry, str) and not entry.strip():
                msg = "a feature expression is empty"
                raise ValueError(msg)
        return features

    _source: Path = PrivateAttr(default=Path("hepopt.yaml"))
    _search_folder: str = PrivateAttr(default="optimize")

    def set_source(self, source: Path) -> None:
        """Remember the file this config came from (relative paths resolve against its folder)."""
        self._source = source

    @property
    def source(self) -> Path:
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent

    @property
    def output_dir(self) -> Path:
        return self.base_dir / self.output

    @property
    def search_dir(self) -> Path:
        """Where a search keeps its study, trial models, tables and plots: the optimize stage's
        folder (the pre-optimisation's copy of the config points elsewhere)."""
        return self.output_dir / self._search_folder

    def for_search_in(self, folder: str, name: str) -> HepoptConfig:
        """This config for a search of its own (another study name, another folder)."""
        copy = self.model_copy(update={"name": name})
        copy._search_folder = folder
        return copy

    def objective_configs(self) -> list[ObjectiveConfig]:
        """The objectives to optimise: several for a multi-objective study, else the one."""
        return list(self.objectives) if self.objectives else [self.objective]

    def objective_keys(self) -> list[tuple[str, ObjectiveConfig]]:
        """The objectives to optimise with the config key each comes from (for error messages)."""
        if self.objectives:
            return [(f"objectives.{i}", o) for i, o in enumerate(self.objectives)]
        return [("objective", self.objective)]

    def feature_entries(self) -> list[tuple[str, str]]:
        """The features as ``(kind, text)`` pairs, kind being 'expr:NAME' or 'callable'."""
        entries = []
        for entry in self.features:
            if isinstance(entry, str):
                entries.append((f"expr:{entry}", entry))
            else:
                key, value = next(iter(entry.items()))
                entries.append(("callable", value) if key == "callable" else (f"expr:{key}", value))
        return entries
