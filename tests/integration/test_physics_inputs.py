"""Inputs physicists really have, end to end: datasets 20x apart in size, negative generator
weights (each training mode), a variation file with half the events, a feature that is constant,
and jagged jets with empty lists. Checked against uproot + awkward read by hand."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import hepopt
from hepopt.config import config_from_dict
from hepopt.data.stage import prepare_data
from hepopt.training.sets import TrainingSets

from helpers import flat_branches, write_branches

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each
LUMI, XS_SIG, XS_BKG = 100.0, 2.0, 50.0


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("physics")
    background = flat_branches(6000, seed=2)
    # The JES-up sample exists for half the events only, with every jet 5 % harder.
    half = {k: v[:3000] for k, v in background.items()}
    half["Jet"] = ak.zip({"pt": half["Jet"].pt * 1.05, "eta": half["Jet"].eta})
    return {
        "sig": write_branches(folder / "sig.root", flat_branches(300, seed=1)),
        "bkg": write_branches(folder / "bkg.root", background),
        "bkg_up": write_branches(folder / "bkg_jes_up.root", half),
    }


def config(files: dict[str, Path], negative_weights: str = "abs") -> dict:
    return {
        "name": f"physics_{negative_weights}",
        "luminosity": LUMI,
        "datasets": {
            "sig": {"files": str(files["sig"]), "role": "signal", "cross_section": XS_SIG, "weight": "genWeight"},
            "bkg": {"files": str(files["bkg"]), "role": "background", "cross_section": XS_BKG, "weight": "genWeight"},
        },
        "variations": {"jes_up": {"datasets": {"bkg": {"files": str(files["bkg_up"])}}}},
        "features": [
            "MET_pt",
            {"lead_jet_pt": "nth(Jet_pt, 0, fill=-1)"},
            {"max_jet_pt": "max(Jet_pt)"},  # 0 for events without jets
            {"n_jets": "num(Jet_pt)"},
            {"constant": "MET_pt * 0 + 3"},
        ],
        "data": {"event_id": "event"},
        "training": {"negative_weights": negative_weights},
        "model": {"space": {"units": {"type": "int", "low": 8, "high": 16}, "max_epochs": 3, "patience": 2}},
        "objective": {"name": "robust_significance", "options": {"bins": 5}},
        "search": {"bootstrap": 10, "n_trials": 1},
        "export": None,
    }


def test_the_table_matches_uproot_read_by_hand(files: dict[str, Path], tmp_path: Path) -> None:
    cfg = config_from_dict(config(files), tmp_path / "hepopt.yaml")
    table = prepare_data(cfg, progress=False)
    sig, bkg = table.dataset_names.index("sig"), table.dataset_names.index("bkg")
    nominal, varied = table.variation == 0, table.variation == table.variation_names.index("jes_up")
    assert (nominal & (table.dataset == sig)).sum() == 300
    assert (nominal & (table.dataset == bkg)).sum() == 6000
    assert (varied & (table.dataset == bkg)).sum() == 3000
    assert not (varied & (table.dataset == sig)).any()  # the variation only has background
    columns = {name: table.features[:, i] for i, name in enumerate(table.feature_names)}
    for rows, path in ((nominal & (table.dataset == bkg), files["bkg"]), (varied, files["bkg_up"])):
        events = uproot.open(path)["Events"].arrays(["Jet_pt", "genWeight", "event"])
        order = np.argsort(table.event_id[rows])
        assert table.event_id[rows][order].tolist() == events["event"].tolist()
        lead = ak.to_numpy(ak.fill_none(ak.firsts(events["Jet_pt"]), -1.0))
        np.testing.assert_allclose(columns["lead_jet_pt"][rows][order], lead, rtol=1e-6)
        np.testing.assert_allclose(
            columns["max_jet_pt"][rows][order],
            ak.to_numpy(ak.fill_none(ak.max(events["Jet_pt"], axis=1), 0.0)),
            rtol=1e-6,
        )
        assert ak.any(ak.num(events["Jet_pt"]) == 0)  # empty jet lists are really there
        # Each sample normalised with its own sum of (signed) generator weights: sum = L x sigma.
        gen = ak.to_numpy(events["genWeight"]).astype(np.float64)
        assert (gen < 0).any()
        np.testing.assert_allclose(table.weight[rows][order], LUMI * XS_BKG * gen / gen.sum(), rtol=1e-6)
    assert np.all(columns["constant"] == 3.0)
    sets = TrainingSets.from_table(table, (0.5, 0.25, 0.25), seed=1)
    assert np.isfinite(sets.train.x_tensor.numpy()).all()  # a constant column does not divide by 0


@pytest.mark.parametrize("negative_weights", ["abs", "keep", "zero"])
def test_a_search_runs_on_them_with_each_negative_weight_mode(
    files: dict[str, Path], tmp_path: Path, negative_weights: str
) -> None:
    result = hepopt.optimize(
        config_from_dict(config(files, negative_weights), tmp_path / "hepopt.yaml"), progress=False
    )
    assert result is not None
    assert result.n_complete == 1
    z = result.best.validation[0]
    assert np.isfinite(z)
    assert 0 < z <= result.best.test_metrics["asimov_significance"] * 10  # sane scale
    # Profiling the JES can only cost significance: the profiled value is at most the stat-only one
    # (both on the test split, the same binning would be needed for equality; here 5 vs 10 bins).
    assert result.best.test_metrics["robust_significance"] <= result.best.test_metrics["asimov_significance"] + 1e-6
