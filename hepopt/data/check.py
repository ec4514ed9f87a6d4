"""What ``hepopt check`` verifies without running anything: every file opens, holds its tree and
the branches the expressions read, and how many events each sample has. Reads only the files'
metadata (uproot), imports no feature callable and no torch."""

from __future__ import annotations

from dataclasses import dataclass

from hepopt.config.schema import HepoptConfig
from hepopt.data.features import FeatureSpec
from hepopt.data.fileset import check_samples, samples_from_config


@dataclass(frozen=True)
class SampleCheck:
    dataset: str
    variation: str
    files: int
    entries: int
    branches: int  # the branches the expressions read


def check_inputs(config: HepoptConfig) -> list[SampleCheck]:
    """Each sample's files, entries and branches read.

    Raises:
        ConfigError: a glob that matches no file, or a feature callable whose module is missing.
        DataError: a file that does not open, lacks its tree, or lacks a branch an expression
            reads (the message names the file, tree and branch).
    """
    spec = FeatureSpec.from_config(config, load_callables=False)
    samples = samples_from_config(config)
    found = check_samples(samples, spec)
    return [
        SampleCheck(
            s.dataset,
            s.variation,
            len(s.files),
            sum(found[path, s.tree].entries for path in s.files),
            len(spec.branches(s.dataset, s.variation)),
        )
        for s in samples
    ]
