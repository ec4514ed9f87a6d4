"""Fixtures: small ROOT samples written with uproot. Helpers that tests import are in
``helpers.py``, not here."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import load_sample_generator, write_flat


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example analysis' three processes x (nominal, jes_up, jes_down), at 5 % of full size."""
    out = tmp_path_factory.mktemp("samples")
    load_sample_generator().make_samples(out, scale=0.05, seed=3)
    return out


@pytest.fixture
def flat_file(tmp_path: Path) -> Path:
    return write_flat(tmp_path / "flat.root", n=400, seed=1)
