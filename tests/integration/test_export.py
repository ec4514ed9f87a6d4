"""The exported best model, run the way an analysis runs it: ONNX through onnxruntime and
TorchScript through plain torch in a process where hepopt cannot be imported."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from hepopt.config import load_config
from hepopt.data.stage import prepare_data
from hepopt.training import Classifier
from hepopt.training.sets import TrainingSets

from helpers import analysis_config, hepopt, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


@pytest.fixture(scope="module")
def exported(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """An optimize run; its raw test-split features and hepopt's own predictions for them."""
    folder = tmp_path_factory.mktemp("export")
    path = write_config(folder, analysis_config(samples_dir, name="export_test", seed=4))
    done = hepopt("optimize", str(path), "--n-trials", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    config = load_config(path)
    sets = TrainingSets.from_table(prepare_data(config, progress=False), (0.5, 0.25, 0.25), config.seed)
    raw = (sets.test.x * sets.scaler.scale + sets.scaler.mean).astype(np.float32)
    expected = Classifier.load(folder / "results" / "optimize" / "best_model.pt").predict(raw)
    return folder / "results", raw, expected


def test_onnx_model_reproduces_hepopt_predictions(exported: tuple[Path, np.ndarray, np.ndarray]) -> None:
    out, raw, expected = exported
    session = onnxruntime.InferenceSession(str(out / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    (probability,) = session.run(None, {"features": raw})
    assert probability.shape == (len(raw),)
    np.testing.assert_allclose(probability, expected, atol=1e-5)
    (few,) = session.run(None, {"features": raw[:3]})  # any number of events
    np.testing.assert_allclose(few, expected[:3], atol=1e-5)


def test_torchscript_model_runs_without_hepopt(exported: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    out, raw, expected = exported
    np.save(tmp_path / "raw.npy", raw)
    script = (
        "import sys; sys.modules['hepopt'] = None\n"  # any 'import hepopt' now fails
        "import numpy as np, torch\n"
        f"model = torch.jit.load({str(out / 'export' / 'model.torchscript.pt')!r})\n"
        f"x = torch.from_numpy(np.load({str(tmp_path / 'raw.npy')!r}))\n"
        "with torch.no_grad():\n"
        f"    np.save({str(tmp_path / 'out.npy')!r}, model(x).numpy())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)


def test_description_lists_variables_scaling_and_provenance(exported: tuple[Path, np.ndarray, np.ndarray]) -> None:
    out, _, _ = exported
    description = json.loads((out / "export" / "model.json").read_text())
    payload_model = Classifier.load(out / "optimize" / "best_model.pt")
    summary = json.loads((out / "optimize" / "summary.json").read_text())
    assert description["variables"] == list(payload_model.feature_names)
    np.testing.assert_allclose(description["scaling"]["mean"], payload_model.scaler.mean, rtol=1e-6)
    np.testing.assert_allclose(description["scaling"]["scale"], payload_model.scaler.scale, rtol=1e-6)
    assert description["hyperparameters"] == payload_model.params.to_dict()
    assert description["trial"] == summary["best"]["number"]
    assert description["objectives"][0]["validation"] == pytest.approx(summary["best"]["validation"][0])
    assert description["objectives"][0]["test"] == pytest.approx(summary["best"]["test"][0])
    assert len(description["data_fingerprint"]) == 16
    for kind in ("onnx", "torchscript"):
        entry = description["files"][kind]
        assert entry["sha256"] == hashlib.sha256((out / "export" / entry["name"]).read_bytes()).hexdigest()


def test_the_exported_model_describes_its_inputs_and_applies_to_fresh_events(
    exported: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    """``model.json`` holds each variable's expression, its order and the selection; rebuilt from
    it with uproot alone on events the run never saw, the features equal hepopt's data stage and
    ``hepopt.apply`` equals ``Classifier.predict``."""
    import uproot

    import hepopt
    from hepopt.config import config_from_dict

    from helpers import load_sample_generator

    out = exported[0]
    model = hepopt.ExportedModel.load(out / "export")
    description = json.loads((out / "export" / "model.json").read_text())
    assert list(description["inputs"]["expressions"]) == description["variables"] == list(model.variables)
    assert description["inputs"]["selection"].startswith("num(Jet_pt[Jet_pt > 30]) >= 3")
    # Fresh events, through hepopt's own data stage ...
    fresh = tmp_path / "fresh"
    load_sample_generator().make_samples(fresh, scale=0.02, seed=77)
    config = config_from_dict(analysis_config(fresh, name="fresh"), tmp_path / "hepopt.yaml")
    table = prepare_data(config, progress=False, use_cache=False)
    d = table.dataset_names.index("ttbar")
    rows = (table.dataset == d) & (table.variation == 0)
    columns = [table.feature_names.index(v) for v in model.variables]
    expected_x = table.features[rows][:, columns]
    # ... and from the description alone, on the arrays uproot reads.
    files = sorted((fresh / "nominal").glob("ttbar_*.root"))
    xs, ids, scores = [], [], []
    for path in files:
        events = uproot.open(path)["Events"].arrays()
        passed = events[model.selected(events)]
        xs.append(model.features(passed))
        ids.append(np.asarray(passed["event"], dtype=np.int64))
        scores.append(hepopt.apply(out / "export", passed))
    order = np.argsort(np.concatenate(ids), kind="stable")
    np.testing.assert_array_equal(np.concatenate(ids)[order], np.sort(table.event_id[rows]))
    np.testing.assert_allclose(np.concatenate(xs)[order], expected_x, rtol=1e-6)
    classifier = Classifier.load(out / "optimize" / "best_model.pt")
    np.testing.assert_allclose(np.concatenate(scores)[order], classifier.predict(expected_x), atol=1e-5)


def test_an_exported_model_refuses_a_replaced_file_and_names_a_missing_variable(
    exported: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    import shutil

    import hepopt

    copy = tmp_path / "export"
    shutil.copytree(exported[0] / "export", copy)
    description = json.loads((copy / "model.json").read_text())
    first = description["variables"][0]
    del description["inputs"]["expressions"][first]  # as for a feature callable's variable
    (copy / "model.json").write_text(json.dumps(description))
    model = hepopt.ExportedModel.load(copy)
    columns = {v: np.zeros(3) for v in description["variables"][1:]}
    with pytest.raises(hepopt.DataError, match=f"variable '{first}' comes from a feature callable: pass it in columns"):
        model.features(None, columns)
    assert model.features(None, columns | {first: np.ones(3)}).shape == (3, len(description["variables"]))
    with (copy / "model.torchscript.pt").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(hepopt.HepoptError, match="SHA-256 differs"):
        model.predict(np.zeros((1, len(description["variables"])), np.float32))
