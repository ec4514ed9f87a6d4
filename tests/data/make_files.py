"""Tiny ROOT files for hepopt's tests, written with uproot (run by the test fixtures).

- ``write_flat(path, n, seed)``: a small NanoAOD-like TTree ``Events`` with known content.
- ``write_truncated(path, source)``: the first half of a real ROOT file, as a broken download is.
The example-analysis generator (``analyses/zprime_ttbar/make_samples.py``) writes the realistic
multi-process samples the integration tests optimise on.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

ROOT = Path(__file__).resolve().parents[2]


def load_sample_generator():
    path = ROOT / "analyses" / "zprime_ttbar" / "make_samples.py"
    spec = importlib.util.spec_from_file_location("zprime_make_samples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flat_branches(n: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(2.0, n)
    jets = ak.zip(
        {
            "pt": ak.unflatten(rng.exponential(40.0, counts.sum()).astype(np.float32) + 20, counts),
            "eta": ak.unflatten(rng.normal(0, 1.5, counts.sum()).astype(np.float32), counts),
        }
    )
    return {
        "event": np.arange(n, dtype=np.uint64),
        "genWeight": np.where(rng.random(n) < 0.1, -1.0, 1.0).astype(np.float32),
        "MET_pt": rng.exponential(30.0, n).astype(np.float32),
        "Jet": jets,
    }


def write_flat(path: Path, n: int = 500, seed: int = 0, tree: str = "Events") -> Path:
    return write_branches(path, flat_branches(n, seed), tree)


def write_branches(path: Path, branches: dict[str, object], tree: str = "Events") -> Path:
    """A ROOT file with one tree holding ``branches`` (flat numpy or jagged awkward arrays)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path) as file:
        file.mktree(tree, {k: ak.type(v) if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()})
        file[tree].extend(branches)
    return path


def write_truncated(path: Path, source: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
