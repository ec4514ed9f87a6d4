"""What tests share, in one module (imported as ``helpers``; pytest puts ``tests/`` and
``tests/data/`` on the path): the example's samples and configs that point at them, the CLI as a
user runs it, the listening sockets of a process tree, and figures of merit written out by hand in
plain numpy, for tests to check hepopt's numbers against (nothing among those imports hepopt)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from make_files import (
    ROOT,
    flat_branches,
    load_sample_generator,
    write_branches,
    write_flat,
    write_truncated,
)

__all__ = [
    "BASE_CONFIG",
    "FEATURES",
    "LOOPBACK",
    "NOISE",
    "ROOT",
    "SHARED_REAL_ROOT",
    "analysis_config",
    "elimination_config",
    "flat_branches",
    "flat_config",
    "hepopt",
    "listening_sockets",
    "load_sample_generator",
    "toy",
    "toy_batches",
    "varied_toy_sets",
    "with_",
    "write_branches",
    "write_config",
    "write_flat",
    "write_truncated",
]

SHARED_REAL_ROOT = Path(os.environ.get("HEPOPT_REAL_ROOT", ROOT.parent / "shared" / "data" / "real-root"))
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


# -- configs ---------------------------------------------------------------------------------


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
    config["search"]["bootstrap"] = 10  # the reported uncertainties, from few replicas (speed)
    config.update(overrides)
    return config


def write_config(folder: Path, config: dict[str, Any], name: str = "hepopt.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


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


# -- small inputs ----------------------------------------------------------------------------


BASE_CONFIG = {
    "luminosity": 1.0,
    "datasets": {
        "sig": {"files": "s.root", "role": "signal", "cross_section": 1.0},
        "bkg": {"files": ["b.root"], "role": "background"},
    },
    "features": ["MET_pt", {"lead": "nth(Jet_pt, 0, fill=-1)"}],
}


def with_(**changes: object) -> dict:
    """The minimal config with top-level keys changed."""
    return {**BASE_CONFIG, **changes}


NOISE = ["Noise_0", "Noise_1"]
FEATURES = [
    {"ht": "sum(Jet_pt)"},
    {"max_btag": "max(Jet_btagDeepB)"},
    {"lep_pt": "maximum(max(Muon_pt), max(Electron_pt))"},
    "Noise_0",
    "Noise_1",
    {"ht_copy": "sum(Jet_pt)"},  # the exact duplicate
]


def elimination_config(samples_dir: Path, **eliminate: object) -> dict:
    raw = analysis_config(samples_dir, name="elim", features=FEATURES, objective={"name": "roc_auc"})
    raw["model"]["space"] = {"max_epochs": 20, "patience": 4, "units": 32, "n_layers": 2}
    raw["eliminate"] = {"tolerance": 0.005, "min_variables": 1, **eliminate}
    return raw


def toy(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four features (two separating), 30 % signal, 5 % negative weights."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    x = rng.normal(size=(n, 4)).astype(np.float32) + y[:, None] * np.array([1.0, 0.5, 0.0, 0.0], np.float32)
    w = rng.uniform(0.5, 2.0, n) * np.where(rng.random(n) < 0.05, -1, 1)
    return x, y, w


def toy_batches(seed: int = 0) -> tuple[Any, Any]:
    """Training and validation batches of :func:`toy` (training weights, on the CPU)."""
    from hepopt.training import Batchable, training_weights

    x, y, w = toy(seed=seed)
    tw = training_weights(y, w, 1.0, "abs")
    return Batchable.from_numpy(x[:2000], y[:2000], tw[:2000], "cpu"), Batchable.from_numpy(
        x[2000:], y[2000:], tw[2000:], "cpu"
    )


def varied_toy_sets() -> Any:
    """Signal and background in two features, with a varied copy shifting the background."""
    from hepopt.data import EventTable
    from hepopt.training.sets import TrainingSets

    rng = np.random.default_rng(0)
    n = 2000
    label = (rng.random(n) < 0.5).astype(np.int8)
    x = rng.normal(label[:, None] * 1.0, 1.0, (n, 2))
    table = EventTable(
        features=np.concatenate([x, x + (label == 0)[:, None] * 0.5]).astype(np.float32),
        label=np.tile(label, 2),
        weight=np.ones(2 * n),
        dataset=np.tile((label == 0).astype(np.int16), 2),
        variation=np.repeat(np.arange(2, dtype=np.int16), n),
        event_id=np.tile(np.arange(n, dtype=np.int64), 2),
        feature_names=("x1", "x2"),
        dataset_names=("sig", "bkg"),
        variation_names=("nominal", "shift_up"),
    )
    return TrainingSets.from_table(table, (0.5, 0.25, 0.25), seed=1)


# -- processes -------------------------------------------------------------------------------


def hepopt(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``hepopt ARGS`` in a real process, as a user runs it."""
    env = {**os.environ, "COLUMNS": "200"}  # a wide "terminal", so table cells do not wrap
    return subprocess.run(
        [sys.executable, "-m", "hepopt.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        check=False,
        env=env,
    )


def listening_sockets(pid: int | None = None) -> set[tuple[str, int, str]]:
    """(address, port, process name) of every listening TCP socket of process ``pid`` (default:
    this one) and all its children."""
    import psutil

    root = psutil.Process(pid)
    found = set()
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            listening = [c for c in process.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
            found |= {(c.laddr.ip, c.laddr.port, process.name()) for c in listening}
    return found


# -- figures of merit by hand (plain numpy, no hepopt) ---------------------------------------


def auc_by_pairs(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """P(signal output > background output) over weighted pairs (|w|), ties counting one half."""
    w = np.abs(weights)
    bkg = labels == 0
    order = np.argsort(scores[bkg])
    b_scores, b_cum = scores[bkg][order], np.r_[0.0, np.cumsum(w[bkg][order])]
    s_scores, s_w = scores[~bkg], w[~bkg]
    below = b_cum[np.searchsorted(b_scores, s_scores, side="left")]
    tied = b_cum[np.searchsorted(b_scores, s_scores, side="right")] - below
    return float(np.sum(s_w * (below + 0.5 * tied)) / (s_w.sum() * b_cum[-1]))


def closed_form(s: np.ndarray, b: np.ndarray) -> float:
    """Z = sqrt(sum 2((s+b) ln(1+s/b) - s)), Cowan et al. (2011)."""
    return float(np.sqrt(np.sum(2 * ((s + b) * np.log(1 + s / b) - s))))


def merge_from_top(s: np.ndarray, b: np.ndarray, floor: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """From the most signal-like bin down, bins join until the group holds >= ``floor``
    background; what is left at the bottom joins the lowest group (hepopt's documented rule)."""
    groups: list[list[int]] = [[]]
    for i in range(len(b) - 1, -1, -1):
        groups[-1].append(i)
        if b[groups[-1]].sum() >= floor:
            groups.append([])
    if not groups[-1]:
        groups.pop()
    elif len(groups) > 1:
        leftover = groups.pop()  # (not `groups[-2] += groups.pop()`: the index would shift)
        groups[-1] += leftover
    return np.array([s[g].sum() for g in groups]), np.array([b[g].sum() for g in groups])


def z_by_hand(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, bins: int = 5) -> float:
    """Stat-only Asimov Z of equal bins in [0, 1], low-background bins merged from the top."""
    s = np.histogram(scores[labels == 1], bins=bins, range=(0, 1), weights=weights[labels == 1])[0]
    b = np.histogram(scores[labels == 0], bins=bins, range=(0, 1), weights=weights[labels == 0])[0]
    return closed_form(*merge_from_top(s, b))


def total_variation(
    a_scores: np.ndarray, a_weights: np.ndarray, b_scores: np.ndarray, b_weights: np.ndarray, bins: int
) -> float:
    """½ sum |p - q| of two weighted output shapes in equal bins of [0, 1]."""
    p = np.histogram(a_scores, bins=bins, range=(0, 1), weights=a_weights)[0]
    q = np.histogram(b_scores, bins=bins, range=(0, 1), weights=b_weights)[0]
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())
