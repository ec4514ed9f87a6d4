"""``hepopt init`` writes a starting config from the files; ``hepopt check CONFIG`` validates a
config and its inputs without running anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, analysis_config, flat_config, hepopt, write_config, write_flat

pytestmark = pytest.mark.integration


def test_the_example_checks_without_importing_torch_or_coffea(samples_dir: Path, tmp_path: Path) -> None:
    import shutil

    raw = analysis_config(samples_dir)
    raw["features"] = [*raw["features"], {"callable": "features:jets_mass"}]  # the example's callable, not run
    config = write_config(tmp_path, raw)
    shutil.copy(ROOT / "analyses" / "zprime_ttbar" / "features.py", tmp_path / "features.py")
    done = hepopt("check", str(config))
    assert done.returncode == 0, done.stderr
    assert "OK (3 datasets, 2 variations, 12 files" in done.stdout
    assert "2,000" in done.stdout  # ttbar's entries (5 % of the example), from the files' metadata
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


def test_init_from_root_files_writes_a_config_that_checks(samples_dir: Path, tmp_path: Path) -> None:
    import yaml

    samples = samples_dir / "nominal"
    files = [str(samples / "zprime_0.root"), str(samples / "ttbar_0.root")]
    done = hepopt("init", *files, "-o", str(tmp_path / "hepopt.yaml"))
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((tmp_path / "hepopt.yaml").read_text())
    assert {n: d["role"] for n, d in config["datasets"].items()} == {"zprime_0": "signal", "ttbar_0": "background"}
    assert config["datasets"]["ttbar_0"]["weight"] == "genWeight"
    assert config["data"]["event_id"] == "event"
    # flat numbers as they are, per collection the leading pt and the multiplicity; no bookkeeping
    assert {"MET_pt", "nth(Jet_pt, 0, fill=-1)", "num(Jet_pt)", "num(Muon_pt)"} <= set(config["features"])
    assert not {"run", "event", "genWeight", "nJet", "luminosityBlock"} & set(config["features"])
    assert hepopt("check", str(tmp_path / "hepopt.yaml")).returncode == 0
    again = hepopt("init", *files, "-o", str(tmp_path / "hepopt.yaml"))
    assert again.returncode == 1
    assert "exists" in again.stderr


def test_init_from_a_fileset_points_the_config_to_it(samples_dir: Path, tmp_path: Path) -> None:
    import json

    import yaml

    samples = samples_dir
    fileset = {
        "zprime": {"files": {str(samples / "nominal" / "zprime_0.root"): "Events"}, "metadata": {"xsec": 1.0}},
        "ttbar": {
            "files": {str(samples / "nominal" / f"ttbar_{i}.root"): "Events" for i in range(2)},
            "metadata": {"xsec": 831.8, "role": "background"},
        },
    }
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "fileset.json").write_text(json.dumps(fileset))
    done = hepopt("init", str(tmp_path / "inputs" / "fileset.json"), "-o", str(tmp_path / "hepopt.yaml"))
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((tmp_path / "hepopt.yaml").read_text())
    assert config["fileset"] == "inputs/fileset.json"
    assert config["datasets"]["zprime"] == {"role": "signal", "weight": "genWeight"}  # the role guessed
    assert config["datasets"]["ttbar"] == {"weight": "genWeight"}  # its role is in the fileset
    checked = hepopt("check", str(tmp_path / "hepopt.yaml"))
    assert checked.returncode == 0, checked.stderr
    assert "OK (2 datasets, 0 variations, 3 files" in " ".join(checked.stdout.split())
