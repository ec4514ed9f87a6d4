"""The coffea data stage on ROOT files written by uproot, checked against bare uproot + numpy."""

from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepopt.config import config_from_dict
from hepopt.data import EventTable
from hepopt.data.stage import prepare_data

from helpers import LOOPBACK, analysis_config, flat_config, listening_sockets, write_flat

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


def read(path: Path, *names: str) -> dict[str, np.ndarray]:
    return uproot.open(path)["Events"].arrays(list(names), library="ak")


def test_features_weights_and_tags_match_uproot(tmp_path: Path) -> None:
    sig, bkg = write_flat(tmp_path / "sig.root", 300, 1), write_flat(tmp_path / "bkg.root", 500, 2)
    config = config_from_dict(flat_config(sig, bkg), tmp_path / "hepopt.yaml")
    table = prepare_data(config, progress=False)

    assert table.feature_names == ("MET_pt", "lead_jet_pt", "n_jets")
    assert table.dataset_names == ("sig", "bkg")
    for index, (path, xsec) in enumerate(((sig, 2.0), (bkg, 50.0))):
        raw = read(path, "MET_pt", "Jet_pt", "genWeight", "event")
        rows = table.dataset == index
        jets = ak.to_list(raw["Jet_pt"])
        lead = np.array([j[0] if j else -1.0 for j in jets], np.float32)
        np.testing.assert_array_equal(table.features[rows, 0], ak.to_numpy(raw["MET_pt"]))
        np.testing.assert_array_equal(table.features[rows, 1], lead)
        np.testing.assert_array_equal(table.features[rows, 2], [len(j) for j in jets])
        gen = ak.to_numpy(raw["genWeight"]).astype(np.float64)
        np.testing.assert_allclose(table.weight[rows], 100.0 * xsec * gen / gen.sum(), rtol=1e-12)
        assert table.weight[rows].sum() == pytest.approx(100.0 * xsec)  # lumi x xsec
        np.testing.assert_array_equal(table.event_id[rows], ak.to_numpy(raw["event"]))
        assert (table.label[rows] == (1 if index == 0 else 0)).all()
    assert table.features.dtype == np.float32
    assert (table.variation == 0).all()


def test_selection_normalises_with_weights_before_selection(tmp_path: Path) -> None:
    sig, bkg = write_flat(tmp_path / "sig.root", 300, 1), write_flat(tmp_path / "bkg.root", 500, 2)
    raw = flat_config(sig, bkg, selection="MET_pt > 20")
    table = prepare_data(config_from_dict(raw, tmp_path / "hepopt.yaml"), progress=False)
    events = read(sig, "MET_pt", "genWeight")
    gen = ak.to_numpy(events["genWeight"]).astype(np.float64)
    passed = ak.to_numpy(events["MET_pt"]) > 20
    expected = 100.0 * 2.0 * gen[passed].sum() / gen.sum()  # selection efficiency x lumi x xsec
    assert table.weight[table.dataset == 0].sum() == pytest.approx(expected, rel=1e-12)
    assert (table.features[:, 0] > 20).all()


def test_variations_are_tagged_and_weight_factors_kept(samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(samples_dir)
    raw["variations"]["pdf_up"] = {"weight": "1 + 0.001 * MET_pt", "applies_to": ["ttbar"]}
    table = prepare_data(config_from_dict(raw, tmp_path / "hepopt.yaml"), progress=False)
    assert table.variation_names == ("nominal", "jes_up", "jes_down")
    for v, name in enumerate(table.variation_names):
        for d, ds in enumerate(table.dataset_names):
            files = sorted((samples_dir / name).glob(f"{ds}_*.root"))
            met = np.concatenate([ak.to_numpy(read(f, "MET_pt")["MET_pt"]) for f in files])
            rows = (table.variation == v) & (table.dataset == d)
            assert 0 < rows.sum() <= len(met)
            factor = table.weight_factors["pdf_up"][rows]
            expected = 1 + 0.001 * table.features[rows, table.feature_names.index("MET_pt")] if ds == "ttbar" else 1.0
            np.testing.assert_allclose(factor, expected, rtol=1e-6)
    # The JES-up copy of an event has a harder leading jet than its nominal self.
    nominal, up = (table.select((table.variation == v) & (table.dataset == 1)) for v in (0, 1))
    common, i_nom, i_up = np.intersect1d(nominal.event_id, up.event_id, return_indices=True)
    assert len(common) > 100
    lead = table.feature_names.index("lead_jet_pt")
    assert (up.features[i_up, lead] > nominal.features[i_nom, lead]).all()


def test_cache_is_reused_and_invalidated(tmp_path: Path) -> None:
    sig, bkg = write_flat(tmp_path / "sig.root", 300, 1), write_flat(tmp_path / "bkg.root", 500, 2)
    config = config_from_dict(flat_config(sig, bkg), tmp_path / "hepopt.yaml")
    first = prepare_data(config, progress=False)
    cached = list((tmp_path / "results" / "prepare").glob("events-*.npz"))
    assert len(cached) == 1
    # Swap the ROOT file's content for garbage of the same size and mtime: the cache must answer.
    stat = sig.stat()
    original = sig.read_bytes()
    sig.write_bytes(b"\0" * stat.st_size)
    os.utime(sig, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = prepare_data(config, progress=False)
    np.testing.assert_array_equal(again.features, first.features)
    # A changed file (new mtime) invalidates the entry and ROOT is read again.
    sig.write_bytes(original)
    os.utime(sig, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    prepare_data(config, progress=False)
    assert len(list((tmp_path / "results" / "prepare").glob("events-*.npz"))) == 2


def test_table_save_load_roundtrip(tmp_path: Path) -> None:
    sig, bkg = write_flat(tmp_path / "sig.root", 50, 1), write_flat(tmp_path / "bkg.root", 60, 2)
    table = prepare_data(config_from_dict(flat_config(sig, bkg), tmp_path / "c.yaml"), progress=False, use_cache=False)
    table.save(tmp_path / "t.npz")
    loaded = EventTable.load(tmp_path / "t.npz")
    for field in ("features", "label", "weight", "dataset", "variation", "event_id"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(table, field))
    assert loaded.feature_names == table.feature_names


@pytest.mark.parametrize("executor", ["futures", "dask"])
def test_parallel_executors_give_the_same_table(tmp_path: Path, executor: str) -> None:
    """Chunks come back in any order from processes; the table is the same, row for row."""
    sig, bkg = write_flat(tmp_path / "sig.root", 300, 1), write_flat(tmp_path / "bkg.root", 500, 2)
    data = {"event_id": "event", "chunksize": 100}
    iterative = prepare_data(
        config_from_dict(flat_config(sig, bkg, data=data), tmp_path / "a.yaml"), progress=False, use_cache=False
    )
    raw = flat_config(sig, bkg, data={**data, "executor": executor, "workers": 2})
    parallel = prepare_data(config_from_dict(raw, tmp_path / "b.yaml"), progress=False, use_cache=False)
    np.testing.assert_array_equal(iterative.event_id, parallel.event_id)
    np.testing.assert_array_equal(iterative.features, parallel.features)
    np.testing.assert_array_equal(iterative.weight, parallel.weight)
    assert iterative.fingerprint() == parallel.fingerprint()


def test_the_local_dask_cluster_listens_on_loopback_only(tmp_path: Path) -> None:
    from hepopt.data.stage import _executor

    sig = write_flat(tmp_path / "sig.root", 50, 1)
    config = config_from_dict(flat_config(sig, sig, data={"executor": "dask", "workers": 1}), tmp_path / "c.yaml")
    with _executor(config, progress=False):
        seen = listening_sockets()
    assert len(seen) >= 2  # the scheduler here, the worker and its nanny in their processes
    assert {s for s in seen if s[0] not in LOOPBACK} == set()


def test_feature_callable_from_the_config_folder(tmp_path: Path) -> None:
    sig, bkg = write_flat(tmp_path / "sig.root", 100, 1), write_flat(tmp_path / "bkg.root", 100, 2)
    (tmp_path / "myfeatures_mod.py").write_text(
        "import awkward as ak\n"
        "def build(events):\n"
        "    return {'ht': ak.sum(events.Jet_pt, axis=1), 'met2': events.MET_pt * 2}\n"
    )
    raw = flat_config(sig, bkg, features=["MET_pt", {"callable": "myfeatures_mod:build"}])
    table = prepare_data(config_from_dict(raw, tmp_path / "hepopt.yaml"), progress=False)
    assert table.feature_names == ("MET_pt", "ht", "met2")
    raw_sig = read(sig, "Jet_pt", "MET_pt")
    rows = table.dataset == 0
    np.testing.assert_allclose(table.features[rows, 1], ak.to_numpy(ak.sum(raw_sig["Jet_pt"], axis=1)), rtol=1e-6)
    np.testing.assert_allclose(table.features[rows, 2], 2 * table.features[rows, 0])


def test_per_event_nuisance_of_a_file_variation(tmp_path: Path) -> None:
    sig, bkg = write_flat(tmp_path / "sig.root", 200, 1), write_flat(tmp_path / "bkg.root", 300, 2)
    shifted = write_flat(tmp_path / "bkg_shifted.root", 300, 3)
    raw = flat_config(sig, bkg)
    raw["variations"] = {"met_shift": {"datasets": {"bkg": {"files": str(shifted)}}, "nuisance": "MET_pt / 100"}}
    table = prepare_data(config_from_dict(raw, tmp_path / "hepopt.yaml"), progress=False)
    varied = table.variation == 1
    met = ak.to_numpy(read(shifted, "MET_pt")["MET_pt"]).astype(np.float64)
    np.testing.assert_allclose(table.nuisance[varied], met / 100, rtol=1e-6)
    np.testing.assert_array_equal(table.nuisance[~varied], 0.0)
    table.save(tmp_path / "t.npz")
    np.testing.assert_array_equal(EventTable.load(tmp_path / "t.npz").nuisance, table.nuisance)


def test_modulo_split_through_the_data_stage(tmp_path: Path) -> None:
    """``split: {by: modulo, column: ...}`` evaluated by the coffea processor on the ROOT
    branches: each event lands where its own ``column % N`` says."""
    from hepopt.stages.plan import make_plan

    sig, bkg = write_flat(tmp_path / "s.root", n=600, seed=1), write_flat(tmp_path / "b.root", n=600, seed=2)
    split = {"by": "modulo", "modulo": 4, "residues": {"validation": [2], "test": [3]}, "column": "event * 3 + 1"}
    raw = flat_config(sig, bkg, data={"event_id": "event", "split": split})
    config = config_from_dict(raw, tmp_path / "hepopt.yaml")
    table = prepare_data(config, progress=False)
    np.testing.assert_array_equal(table.split_key, table.event_id * 3 + 1)
    sets = make_plan(config).training_sets(table)
    for name, residue in (("validation", 2), ("test", 3)):
        ids = sets.splits[name].event_id
        assert len(ids) > 0
        np.testing.assert_array_equal((ids * 3 + 1) % 4, residue)
    np.testing.assert_array_equal(np.isin((sets.train.event_id * 3 + 1) % 4, [0, 1]), True)
    # weights of each split are scaled back to the full sample: by (events in all) / (events in the split)
    for name in ("train", "validation", "test"):
        arrays = sets.splits[name]
        for d in range(2):
            in_split = arrays.dataset == d
            own = table.weight[(table.dataset == d) & np.isin(table.event_id, arrays.event_id[in_split])]
            scale = (table.dataset == d).sum() / in_split.sum()
            np.testing.assert_allclose(np.sort(arrays.weights[in_split]), np.sort(own * scale))
    reloaded = EventTable.load(next((tmp_path / "results" / "prepare").glob("events-*.npz")))
    np.testing.assert_array_equal(reloaded.split_key, table.split_key)


def test_a_coffea_fileset_gives_the_table_of_the_explicit_config(tmp_path: Path) -> None:
    import json

    sig, bkg = write_flat(tmp_path / "s.root", n=300, seed=1), write_flat(tmp_path / "b.root", n=400, seed=2)
    explicit = prepare_data(
        config_from_dict(flat_config(sig, bkg), tmp_path / "a.yaml"), progress=False, use_cache=False
    )
    fileset = {
        "sig": {"files": {"s.root": "Events"}, "metadata": {"xsec": 2.0, "role": "signal", "weight": "genWeight"}},
        "bkg": {"files": {"b.root": "Events"}, "metadata": {"xsec": 50.0, "role": "background", "weight": "genWeight"}},
    }
    (tmp_path / "fileset.json").write_text(json.dumps(fileset))
    raw = flat_config(sig, bkg)
    raw.pop("datasets")
    raw["fileset"] = "fileset.json"
    from_fileset = prepare_data(config_from_dict(raw, tmp_path / "b.yaml"), progress=False, use_cache=False)
    assert from_fileset.fingerprint() == explicit.fingerprint()


def test_the_example_reads_the_same_with_the_nanoaod_schema(samples_dir: Path, tmp_path: Path) -> None:
    """The example's samples are NanoAOD-like (collections with pt, eta, phi, mass): NanoAODSchema
    and BaseSchema give the same table, the feature callable included."""
    from helpers import ROOT

    raw = analysis_config(samples_dir)
    raw["features"] = [*raw["features"], {"callable": "features:jets_mass"}]
    base = prepare_data(
        config_from_dict(raw, ROOT / "analyses" / "zprime_ttbar" / "a.yaml"), progress=False, use_cache=False
    )
    raw["data"] = {**raw["data"], "schema": "nanoaod"}
    nano = prepare_data(
        config_from_dict(raw, ROOT / "analyses" / "zprime_ttbar" / "b.yaml"), progress=False, use_cache=False
    )
    assert "m_system" in nano.feature_names
    assert nano.fingerprint() == base.fingerprint()
