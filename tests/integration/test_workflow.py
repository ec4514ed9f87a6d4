"""hepopt inside a coffea workflow: the analysis' own Runner reads the columns, hepopt optimises
on them, a second processor applies the model into hist histograms, and those become a pyhf
workspace. Every step is checked against an independent computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyhf
import pytest
from coffea import processor
from coffea.nanoevents import BaseSchema

import hepopt
from hepopt.config import config_from_dict
from hepopt.data.stage import prepare_data
from hepopt.workflow import (
    ClassifierHistProcessor,
    columns,
    feature_processor,
    fileset,
    pyhf_workspace,
    table_from_output,
)

from helpers import analysis_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


def test_features_optimize_apply_histograms_workspace(samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(samples_dir, name="workflow")
    raw["search"]["n_trials"] = 2
    config = config_from_dict(raw, tmp_path / "hepopt.yaml")
    runner = processor.Runner(executor=processor.IterativeExecutor(), schema=BaseSchema, chunksize=5000)

    # 1. The analysis runs hepopt's feature processor itself: the same table as hepopt's data stage.
    out = runner(fileset(config), processor_instance=feature_processor(config))
    table = table_from_output(config, out)
    reference = prepare_data(config, progress=False, use_cache=False)
    np.testing.assert_array_equal(table.features, reference.features)
    np.testing.assert_allclose(table.weight, reference.weight, rtol=1e-12)

    # 2. hepopt optimises on those columns.
    result = hepopt.optimize(out, config, progress=False)
    assert result is not None
    manifest = json.loads((tmp_path / "results" / "prepare" / "manifest.json").read_text())
    assert manifest["artifacts"]["fingerprint"] == table.fingerprint()
    model = result.model
    assert model.feature_names == table.feature_names

    # 3. A second processor applies the model and fills the output per dataset and variation.
    apply = ClassifierHistProcessor(config, result.files["best_model"], bins=10)
    hists = apply.normalise(runner(fileset(config), processor_instance=apply))
    scores = model.predict(table.features)
    for d, dataset in enumerate(table.dataset_names):
        for v, variation in enumerate(table.variation_names):
            rows = (table.dataset == d) & (table.variation == v)
            expected, _ = np.histogram(
                np.clip(scores[rows], 0, 1 - 1e-12), bins=10, range=(0, 1), weights=table.weight[rows]
            )
            got = hists[{"dataset": dataset, "variation": variation}].values()
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)

    # 4. The workspace: valid for pyhf, its samples the nominal histograms, the JES a histosys.
    workspace = pyhf_workspace(hists, config)
    ws = pyhf.Workspace(workspace)  # validates against pyhf's schema
    pdf = ws.model()
    assert set(pdf.config.parameters) >= {"mu", "jes"}
    samples = {s["name"]: s for s in workspace["channels"][0]["samples"]}
    assert set(samples) == set(table.dataset_names)
    nominal = {d: hists[{"dataset": d, "variation": "nominal"}].values() for d in table.dataset_names}
    for name, sample in samples.items():
        np.testing.assert_allclose(sample["data"], np.maximum(nominal[name], 0), rtol=1e-9)
    # The Asimov data of the model: its samples summed.
    np.testing.assert_allclose(
        workspace["observations"][0]["data"], sum(np.maximum(v, 0) for v in nominal.values()), rtol=1e-9
    )
    assert [m["name"] for m in samples["zprime"]["modifiers"]] == ["mu", "jes", "mc_stat"]
    # The MC statistical uncertainty: the square root of each bin's sum of squared weights.
    variances = hists[{"dataset": "wjets", "variation": "nominal"}].variances()
    np.testing.assert_allclose(samples["wjets"]["modifiers"][-1]["data"], np.sqrt(variances), rtol=1e-9)
    jes = samples["ttbar"]["modifiers"][0]["data"]
    np.testing.assert_allclose(
        jes["hi_data"], np.maximum(hists[{"dataset": "ttbar", "variation": "jes_up"}].values(), 1e-9), rtol=1e-9
    )


class OwnColumns(processor.ProcessorABC):  # type: ignore[misc]
    """An analysis' own processor: its own selection and variables, written with awkward."""

    def process(self, events: object) -> dict:
        import awkward as ak

        passed = ak.num(events.Jet_pt[events.Jet_pt > 30]) >= 3  # type: ignore[attr-defined]
        chosen = events[passed]  # type: ignore[index]
        variables = {"ht": ak.to_numpy(ak.sum(chosen.Jet_pt, axis=1)), "MET_pt": ak.to_numpy(chosen.MET_pt)}
        return {
            events.metadata["dataset"]: columns(  # type: ignore[attr-defined]
                variables,
                weight=ak.to_numpy(chosen.genWeight),
                event_id=ak.to_numpy(chosen.event),
                sum_weights_before_selection=float(np.sum(ak.to_numpy(events.genWeight), dtype=np.float64)),  # type: ignore[attr-defined]
                n_read=len(events),  # type: ignore[arg-type]
            )
        }

    def postprocess(self, accumulator: object) -> object:
        return accumulator


def test_an_analysis_processor_with_its_own_columns(samples_dir: Path, tmp_path: Path) -> None:
    raw = analysis_config(
        samples_dir,
        name="own_columns",
        features=[{"ht": "sum(Jet_pt)"}, "MET_pt"],
        selection="num(Jet_pt[Jet_pt > 30]) >= 3",
        export=None,
    )
    raw["data"]["event_id"] = "event"
    raw["search"]["n_trials"] = 1
    config = config_from_dict(raw, tmp_path / "hepopt.yaml")
    runner = processor.Runner(executor=processor.IterativeExecutor(), schema=BaseSchema, chunksize=5000)
    out = runner(fileset(config), processor_instance=OwnColumns())
    # The same events and numbers as hepopt's own expressions give.
    own, reference = table_from_output(config, out), prepare_data(config, progress=False, use_cache=False)
    np.testing.assert_array_equal(own.event_id, reference.event_id)
    np.testing.assert_allclose(own.features, reference.features, rtol=1e-6)
    np.testing.assert_allclose(own.weight, reference.weight, rtol=1e-12)
    result = hepopt.optimize(out, config, progress=False)
    assert result is not None
    assert result.model.feature_names == ("ht", "MET_pt")


def test_the_example_processor_with_its_own_names(samples_dir: Path, tmp_path: Path) -> None:
    """``analyses/zprime_ttbar/own_processor.py``: the analysis' own fileset names and processor;
    its entries declare their dataset and variation, two entries of one sample are merged, and the
    table equals what hepopt's own expressions give on the same files."""
    import importlib.util

    from helpers import ROOT

    spec = importlib.util.spec_from_file_location(
        "own_processor", ROOT / "analyses" / "zprime_ttbar" / "own_processor.py"
    )
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out, config, result = example.run(samples_dir, tmp_path, n_trials=1)
    assert result is not None
    assert result.model.feature_names == ("ht", "lead_jet_pt", "MET_pt")
    own = table_from_output(config, out)
    raw = example.config(samples_dir, 1)
    raw["features"] = [{"ht": "sum(Jet_pt)"}, {"lead_jet_pt": "nth(Jet_pt[Jet_pt > 30], 0, fill=-1)"}, "MET_pt"]
    raw["selection"] = "num(Jet_pt[Jet_pt > 30]) >= 3"
    reference = prepare_data(config_from_dict(raw, tmp_path / "reference.yaml"), progress=False, use_cache=False)
    assert own.variation_names == reference.variation_names == ("nominal", "jes_up")
    np.testing.assert_array_equal(own.event_id, reference.event_id)
    np.testing.assert_allclose(own.features, reference.features, rtol=1e-6)
    np.testing.assert_allclose(own.weight, reference.weight, rtol=1e-12)


def test_output_that_names_no_sample_or_is_lazy_is_one_line(samples_dir: Path, tmp_path: Path) -> None:
    from hepopt.errors import DataError

    config = config_from_dict(analysis_config(samples_dir), tmp_path / "hepopt.yaml")
    entry = columns(
        {"x": np.ones(2)}, weight=np.ones(2), event_id=np.arange(2), sum_weights_before_selection=2.0, n_read=2
    )
    with pytest.raises(
        DataError, match=r"processor output entries \['TTToSemiLeptonic'\] name no sample of .*expected keys"
    ):
        table_from_output(config, {"TTToSemiLeptonic": entry})

    class Lazy:
        def __dask_graph__(self) -> dict:
            return {}

    with pytest.raises(DataError, match=r"holds dask collections .* compute them first"):
        table_from_output(config, {"ttbar": dict(entry, weight=[Lazy()])})
