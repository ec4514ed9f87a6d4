"""The data sections: datasets, systematic variations, and how the coffea data stage reads them."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from hepopt.config.schema.base import STRICT, FileList, Section
from hepopt.config.split_rule import SplitRule


class DatasetConfig(Section):
    """One simulated sample: its files, its role and how its events are weighted.

    With ``cross_section`` set, an event's weight is
    ``luminosity * cross_section * weight / sum(weight over all events before selection)``;
    without it, the ``weight`` expression is taken as the event's expected yield as it is.
    """

    files: FileList
    """ROOT files: a path or glob, or a list of them, relative to the config's folder."""
    tree: str = "Events"
    """The TTree to read in each file."""
    role: Literal["signal", "background"]
    """Whether the sample is signal (label 1) or background (label 0)."""
    cross_section: float | None = Field(default=None, gt=0)
    """In pb (with ``luminosity`` in pb^-1): the events are normalised to luminosity x cross-section."""
    weight: str = "1"
    """Per-event weight, an expression (e.g. ``genWeight``)."""
    sum_weights: float | None = Field(default=None, gt=0)
    """The sum of ``weight`` before any skim, when the files are skims (default: summed over the files)."""


class VariedSource(Section):
    """The alternative files of one dataset under a systematic variation."""

    files: FileList
    """The varied sample's ROOT files (path, glob or list)."""
    tree: str | None = None
    """Its TTree (default: the nominal dataset's)."""


class VariationConfig(Section):
    """A systematic variation: alternative files per dataset, or a per-event weight factor.

    ``x_up``/``x_down`` pairs form one nuisance parameter ``x`` in the profiled significance.
    """

    datasets: dict[str, VariedSource] | None = None
    """Alternative files for the datasets it affects (dataset name -> files)."""
    weight: str | None = None
    """Or: a per-event factor on the nominal weight (an expression)."""
    applies_to: list[str] | None = None
    """Weight variations: the datasets it applies to (default: all)."""
    nuisance: str | None = None
    """File-based variations: each varied event's value of a continuous nuisance parameter (an
    expression, e.g. the JES shift it was made with), which the ``mdn`` adversary models."""

    @model_validator(mode="after")
    def _one_kind(self) -> VariationConfig:
        if (self.datasets is None) == (self.weight is None):
            msg = "give either 'datasets' (alternative files) or 'weight' (a weight factor)"
            raise ValueError(msg)
        if self.applies_to is not None and self.weight is None:
            msg = "'applies_to' is only for weight variations"
            raise ValueError(msg)
        if self.nuisance is not None and self.datasets is None:
            msg = "'nuisance' (a per-event value) is only for file-based variations"
            raise ValueError(msg)
        return self


class SplitConfig(Section):
    """How events are divided into training, validation (early stopping, the search's objective)
    and test (reported only). Deterministic per event: a varied copy of an event lands where its
    nominal event does.

    ``by: hash`` (default) draws the split from a hash of seed, dataset and event id with the
    given fractions. ``by: modulo`` splits as many analyses do: an event goes to validation or
    test when ``column % modulo`` is one of the listed ``residues`` (e.g. test = ``event % 5 == 0``),
    to training otherwise, so the split is the one the analysis uses elsewhere."""

    by: Literal["hash", "modulo"] = "hash"
    """``hash`` (fractions) or ``modulo`` (residues of the event number or of ``column``)."""
    train: float = Field(default=0.6, gt=0, lt=1)
    """``hash``: fraction for training."""
    validation: float = Field(default=0.2, gt=0, lt=1)
    """``hash``: fraction for validation: what the search optimises."""
    test: float = Field(default=0.2, gt=0, lt=1)
    """``hash``: fraction for test: never seen by the search, reported."""
    modulo: int = Field(default=5, ge=3)
    """``modulo``: the divisor N of ``column % N``."""
    residues: dict[Literal["validation", "test"], list[int]] = {"validation": [1], "test": [0]}
    """``modulo``: the residues of the validation and test splits (the other residues train)."""
    column: str | None = None
    """``modulo``: an integer expression to split on (default: the event id, ``data.event_id``)."""

    @model_validator(mode="after")
    def _consistent(self) -> SplitConfig:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            msg = f"train + validation + test must be 1, got {total:g}"
            raise ValueError(msg)
        if self.by == "hash":
            fields = type(self).model_fields
            defaults = (fields["modulo"].default, fields["residues"].default)
            if self.column is not None or (self.modulo, self.residues) != defaults:
                msg = "column, modulo and residues are for 'by: modulo'"
                raise ValueError(msg)
            return self
        validation, test = self.residues.get("validation", []), self.residues.get("test", [])
        if not validation or not test:
            msg = "residues needs both validation and test, e.g. {validation: [1], test: [0]}"
            raise ValueError(msg)
        used = [*validation, *test]
        if any(not 0 <= r < self.modulo for r in used) or len(set(used)) != len(used):
            msg = f"residues must be different numbers in [0, {self.modulo - 1}], got {dict(self.residues)}"
            raise ValueError(msg)
        if len(used) >= self.modulo:
            msg = f"residues leave no residue of {self.modulo} for training"
            raise ValueError(msg)
        return self

    def rule(self) -> SplitRule:
        """The split as :func:`hepopt.data.splits.assign_splits` applies it."""
        if self.by == "hash":
            return SplitRule((self.train, self.validation, self.test))
        return SplitRule(
            (self.train, self.validation, self.test),
            self.modulo,
            tuple(self.residues["validation"]),
            tuple(self.residues["test"]),
        )


class DataConfig(Section):
    """How the coffea data stage runs."""

    schema_: Literal["base", "nanoaod"] = Field(default="base", alias="schema")
    """coffea's schema for the events: ``base`` (flat ntuples) or ``nanoaod`` (NanoAODSchema)."""
    executor: Literal["iterative", "futures", "dask"] = "iterative"
    """coffea executor: in this process, a process pool, or a dask cluster."""
    workers: int = Field(default=1, ge=1)
    """futures: processes; dask: local-cluster workers."""
    dask_scheduler: str | None = None
    """dask: join this scheduler (``tcp://host:8786``) instead of starting a local cluster."""
    chunksize: int = Field(default=100_000, ge=1)
    """Events per chunk: what one worker holds of the input at a time."""
    event_id: str | None = None
    """The event-number branch (default: file index and entry number identify events)."""
    split: SplitConfig = SplitConfig()
    """The train/validation/test split."""
    cache: bool = True
    """Keep the event table on disk, keyed by the data settings and every input file's path, size and mtime."""

    model_config = ConfigDict(**STRICT, populate_by_name=True)
