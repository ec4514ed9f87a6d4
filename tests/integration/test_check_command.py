"""``hepopt check CONFIG``: the config and its inputs validated without running anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, flat_config, hepopt, write_config, write_flat

pytestmark = pytest.mark.integration


def test_the_example_checks_without_importing_torch_or_coffea() -> None:
    config = ROOT / "analyses" / "zprime_ttbar" / "hepopt.yaml"
    done = hepopt("check", str(config))
    assert done.returncode == 0, done.stderr
    assert "OK (3 datasets, 2 variations, 12 files" in done.stdout
    assert "40,000" in done.stdout  # ttbar's entries, from the files' metadata
    probe = (
        "import sys\nfrom hepopt.api import check\n"
        f"check({str(config)!r})\n"
        "print(sorted(m for m in ('torch', 'coffea', 'ray', 'optuna') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]"  # bounded work: no heavy library, no feature callable run


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": ["MET_pt", "nth(Tau_pt, 0, fill=-1)"]}, r"branch 'Tau_pt' not found in .*sig.root:Events"),
        (
            {"objective": {"name": "asimov_significance", "options": {"bins": 0}}},
            "objective.options: asimov_significance: bins must be >= 1",
        ),
        ({"features": ["MET_pt", {"callable": "no_such_module:f"}]}, "module of 'no_such_module:f' not found"),
    ],
)
def test_problems_are_one_line_and_exit_1(tmp_path: Path, change: dict, message: str) -> None:
    import re

    sig, bkg = write_flat(tmp_path / "sig.root", n=50, seed=1), write_flat(tmp_path / "bkg.root", n=50, seed=2)
    path = write_config(tmp_path, flat_config(sig, bkg, **change))
    done = hepopt("check", str(path))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.search(message, lines[0]), lines[0]
