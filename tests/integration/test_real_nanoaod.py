"""Real CMS files (scikit-hep-testdata) through the same data stage, read where they lie."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepopt.config import config_from_dict
from hepopt.data.stage import prepare_data

from helpers import SHARED_REAL_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each

NANOAOD = SHARED_REAL_ROOT / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
HZZ = SHARED_REAL_ROOT / "uproot-HZZ.root"


def needs(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"real ROOT file not available at {path} (set HEPOPT_REAL_ROOT to its folder)")


@pytest.mark.parametrize("schema", ["nanoaod", "base"])
def test_cms_nanoaod_features(tmp_path: Path, schema: str) -> None:
    needs(NANOAOD)
    raw = {
        "luminosity": 1000.0,
        "datasets": {
            # The same file as both roles: this test is about reading, not separating.
            "ttbar": {"files": str(NANOAOD), "role": "signal", "cross_section": 831.76, "weight": "genWeight"},
            "ttbar_as_bkg": {"files": str(NANOAOD), "role": "background", "weight": "genWeight"},
        },
        "features": [
            {"lead_jet_pt": "nth(Jet_pt, 0, fill=-1)"},
            {"lead_jet_pt_dotted": "nth(Jet.pt, 0, fill=-1)"},
            {"n_muons": "num(Muon_pt)"},
            "MET_pt",
            {"gen_weight": "genWeight"},
        ],
        "data": {"schema": schema, "event_id": "event"},
    }
    table = prepare_data(config_from_dict(raw, tmp_path / "hepopt.yaml"), progress=False)

    events = uproot.open(NANOAOD)["Events"].arrays(["Jet_pt", "nMuon", "MET_pt", "genWeight", "event"])
    jets = ak.to_list(events["Jet_pt"])
    lead = np.array([j[0] if j else -1.0 for j in jets], np.float32)
    gen = ak.to_numpy(events["genWeight"]).astype(np.float64)
    rows = table.dataset == 0
    assert rows.sum() == 200
    np.testing.assert_array_equal(table.features[rows, 0], lead)
    np.testing.assert_array_equal(table.features[rows, 1], lead)
    np.testing.assert_array_equal(table.features[rows, 2], ak.to_numpy(events["nMuon"]))
    np.testing.assert_array_equal(table.features[rows, 3], ak.to_numpy(events["MET_pt"]))
    np.testing.assert_array_equal(table.features[rows, 4], gen.astype(np.float32))
    np.testing.assert_array_equal(table.event_id[rows], ak.to_numpy(events["event"]).astype(np.int64))
    np.testing.assert_allclose(table.weight[rows], 1000.0 * 831.76 * gen / gen.sum(), rtol=1e-12)
    np.testing.assert_allclose(table.weight[table.dataset == 1], gen)  # no cross-section: weight as is


def test_hzz_tutorial_file_with_jagged_muons(tmp_path: Path) -> None:
    needs(HZZ)
    raw = {
        "datasets": {
            "hzz": {"files": str(HZZ), "tree": "events", "role": "signal", "weight": "EventWeight"},
            "hzz_b": {"files": str(HZZ), "tree": "events", "role": "background", "weight": "EventWeight"},
        },
        "selection": "NMuon >= 2",
        "features": [
            {"lead_mu_pt": "nth(sqrt(Muon_Px**2 + Muon_Py**2), 0, fill=-1)"},
            {"met": "hypot(MET_px, MET_py)"},
        ],
    }
    table = prepare_data(config_from_dict(raw, tmp_path / "hepopt.yaml"), progress=False)
    events = uproot.open(HZZ)["events"].arrays(["NMuon", "Muon_Px", "Muon_Py", "MET_px", "MET_py", "EventWeight"])
    passed = ak.to_numpy(events["NMuon"]) >= 2
    px, py = ak.to_list(events["Muon_Px"]), ak.to_list(events["Muon_Py"])
    lead = np.array([np.hypot(x[0], y[0]) for x, y, ok in zip(px, py, passed, strict=True) if ok], np.float32)
    rows = table.dataset == 0
    assert rows.sum() == passed.sum()
    np.testing.assert_allclose(table.features[rows, 0], lead, rtol=1e-6)
    met = np.hypot(ak.to_numpy(events["MET_px"]), ak.to_numpy(events["MET_py"]))[passed]
    np.testing.assert_allclose(table.features[rows, 1], met, rtol=1e-6)
