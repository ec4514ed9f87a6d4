"""Shared fixtures: small ROOT samples written with uproot, and configs that point at them."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "data"))
from make_files import ROOT, load_sample_generator, write_flat

SHARED_REAL_ROOT = Path(os.environ.get("HEPOPT_REAL_ROOT", ROOT.parent / "shared" / "data" / "real-root"))


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example analysis' three processes x (nominal, jes_up, jes_down), at 5 % of full size."""
    out = tmp_path_factory.mktemp("samples")
    load_sample_generator().make_samples(out, scale=0.05, seed=3)
    return out


def analysis_config(samples: Path, **overrides: Any) -> dict[str, Any]:
    """The example analysis' config, shrunk for tests, with top-level keys overridden."""
    config = yaml.safe_load((ROOT / "analyses" / "zprime_ttbar" / "hepopt.yaml").read_text())
    for ds in config["datasets"].values():
        ds["files"] = str(samples / ds["files"].removeprefix("samples/"))
    for var in config["variations"].values():
        for src in var["datasets"].values():
            src["files"] = str(samples / src["files"].removeprefix("samples/"))
    config["features"] = [f for f in config["features"] if not (isinstance(f, dict) and "callable" in f)]
    config["model"]["space"].update({"max_epochs": 4, "patience": 2})
    config["model"].pop("compare", None)  # tests that compare families say so
    config["search"]["n_trials"] = 3
    config.update(overrides)
    return config


def write_config(folder: Path, config: dict[str, Any], name: str = "hepopt.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def flat_file(tmp_path: Path) -> Path:
    return write_flat(tmp_path / "flat.root", n=400, seed=1)


def flat_config(signal: Path, background: Path, **overrides: Any) -> dict[str, Any]:
    """A minimal two-dataset config over ``write_flat`` files."""
    config: dict[str, Any] = {
        "name": "flat",
        "luminosity": 100.0,
        "datasets": {
            "sig": {"files": str(signal), "role": "signal", "cross_section": 2.0, "weight": "genWeight"},
            "bkg": {"files": str(background), "role": "background", "cross_section": 50.0, "weight": "genWeight"},
        },
        "features": ["MET_pt", {"lead_jet_pt": "nth(Jet_pt, 0, fill=-1)"}, {"n_jets": "num(Jet_pt)"}],
        "data": {"event_id": "event"},
    }
    config.update(overrides)
    return config


LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def listening_sockets(pid: int | None = None) -> set[tuple[str, int, str]]:
    """(address, port, process name) of every listening TCP socket of process ``pid`` (default:
    this one) and all its children."""
    import contextlib

    import psutil

    root = psutil.Process(pid)
    found = set()
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            listening = [c for c in process.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
            found |= {(c.laddr.ip, c.laddr.port, process.name()) for c in listening}
    return found
