"""hepopt as steps of a coffea analysis.

    from coffea import processor
    import hepopt
    from hepopt.workflow import ClassifierHistProcessor, feature_processor, fileset, pyhf_workspace

    config = hepopt.load_config("hepopt.yaml")
    runner = processor.Runner(executor=processor.IterativeExecutor(), schema=NanoAODSchema)
    out = runner(fileset(config), processor_instance=feature_processor(config))
    result = hepopt.optimize(out, config)                       # the stages, on these columns
    apply = ClassifierHistProcessor(config, result.files["best_model"], bins=20)
    hists = apply.normalise(runner(fileset(config), processor_instance=apply))
    workspace = pyhf_workspace(hists, config)                   # ready for pyhf / cabinetry

A processor of the analysis' own may compute the variables itself: it returns
``{events.metadata["dataset"]: columns(...)}`` per chunk, and ``hepopt.optimize(out, config)``
takes that output the same way (the config's ``features`` then only name the columns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from coffea import processor

from hepopt.config.schema import HepoptConfig
from hepopt.data.features import FeatureSpec
from hepopt.data.fileset import coffea_fileset, samples_from_config
from hepopt.data.processor import FeatureProcessor
from hepopt.data.table import NOMINAL, EventTable
from hepopt.stats.templates import TemplateTreatment


def fileset(config: HepoptConfig) -> dict[str, dict[str, object]]:
    """The coffea fileset of every dataset under every file-based variation (keys
    ``dataset/variation``), with the metadata hepopt's processors need."""
    return coffea_fileset(samples_from_config(config))


def feature_processor(config: HepoptConfig) -> FeatureProcessor:
    """hepopt's feature extraction (selection, features, weights, event ids) as a coffea processor."""
    return FeatureProcessor(FeatureSpec.from_config(config))


def columns(
    features: dict[str, np.ndarray],
    weight: np.ndarray,
    event_id: np.ndarray,
    *,
    sum_weights_before_selection: float,
    n_read: int,
    weight_factors: dict[str, np.ndarray] | None = None,
    nuisance: np.ndarray | None = None,
    dataset: str | None = None,
    variation: str = NOMINAL,
) -> dict[str, Any]:
    """One chunk's columns in the form hepopt's table is built from, for a processor of the
    analysis' own: ``return {events.metadata["dataset"]: columns(...)}``, or under any key of
    yours with the sample declared: ``columns(..., dataset="ttbar", variation="jes_up")``.

    Args:
        features: variable name -> per-event values of the selected events (same order every chunk).
        weight: generator weight of each selected event.
        event_id: a number unique to the event in its dataset (e.g. the ``event`` branch).
        sum_weights_before_selection: sum of generator weights of every event read in the chunk.
        n_read: events read in the chunk (before the selection).
        weight_factors: weight-based variation -> per-event factor.
        nuisance: per-event nuisance value (NaN where none), for the mdn adversary.
        dataset: the config's dataset these events belong to (default: the output key says it,
            ``dataset/variation`` or the dataset's name for its nominal events).
        variation: the config's variation they are (``nominal`` or a file-based variation).
    """
    n = len(weight)
    matrix = np.stack([np.asarray(v, dtype=np.float32) for v in features.values()], axis=1) if features else None
    return {
        "nuisance": [np.full(n, np.nan) if nuisance is None else np.asarray(nuisance, dtype=np.float64)],
        "feature_names": {tuple(features)},
        "features": [matrix if matrix is not None else np.empty((n, 0), np.float32)],
        "weight": [np.asarray(weight, dtype=np.float64)],
        "event_id": [np.asarray(event_id, dtype=np.int64)],
        "weight_factors": {k: [np.asarray(v, dtype=np.float64)] for k, v in (weight_factors or {}).items()},
        "sumw": float(sum_weights_before_selection),
        "n_read": int(n_read),
        **({"hepopt_sample": {(dataset, variation)}} if dataset is not None else {}),
    }


def table_from_output(config: HepoptConfig, output: dict[str, Any]) -> EventTable:
    """The event table from the output of :func:`feature_processor` (or a processor of the
    analysis' own returning :func:`columns`) run by any coffea Runner.

    Raises:
        DataError: uncomputed dask collections, or output entries that name no dataset and
            variation of the config (the message lists what was found and what is expected).
    """
    from hepopt.data.stage import build_table

    samples = samples_from_config(config)
    return build_table(config, samples, _by_sample(config, output, [s.coffea_key for s in samples]))


def _by_sample(config: HepoptConfig, output: Any, expected: list[str]) -> dict[str, Any]:
    """The processor output keyed ``dataset/variation``: entries that declare their sample
    (``columns(dataset=..., variation=...)``) are regrouped (several keys of one sample merged),
    a plain dataset name stands for its nominal events."""
    from coffea.processor import accumulate

    from hepopt.errors import DataError

    if not isinstance(output, dict):
        msg = f"expected the processor output: a dict of dataset -> columns, got {type(output).__name__}"
        raise DataError(msg)
    grouped: dict[str, list[Any]] = {}
    unknown = []
    for key, entry in output.items():
        if _is_lazy(entry):
            msg = (
                f"output entry '{key}' holds dask collections (coffea's dask-awkward mode): compute them first "
                "(dask.compute(output)), or run the processor with an executor"
            )
            raise DataError(msg)
        if not isinstance(entry, dict) or "weight" not in entry:
            continue  # a processor's other outputs (histograms, cutflows)
        declared = entry.get("hepopt_sample")
        if declared:
            if len(declared) != 1:
                msg = f"output entry '{key}' mixes samples {sorted(declared)}: one dataset and variation per entry"
                raise DataError(msg)
            dataset, variation = next(iter(declared))
            name = f"{dataset}/{variation}"
        else:
            name = key if "/" in key else f"{key}/{NOMINAL}"
        if name not in expected:
            unknown.append(key)
        grouped.setdefault(name, []).append(entry)
    if unknown:
        msg = (
            f"processor output entries {sorted(unknown)[:6]} name no sample of {config.source}; expected keys "
            f"{expected[:6]}{' ...' if len(expected) > 6 else ''} (dataset/variation, or a dataset for its "
            "nominal events), or declare each with columns(..., dataset=..., variation=...)"
        )
        raise DataError(msg)
    return {name: entries[0] if len(entries) == 1 else accumulate(entries) for name, entries in grouped.items()}


def _is_lazy(entry: Any) -> bool:
    """Whether a dask collection (not yet computed) is in the entry, or in its lists of chunks."""
    values = list(entry.values()) if isinstance(entry, dict) else [entry]
    values += [item for v in values if isinstance(v, list) for item in v]
    return any(hasattr(v, "__dask_graph__") for v in values)


_MODELS: dict[str, Any] = {}  # per worker process: load each model file once


def _model(path: str, family: str) -> Any:
    from hepopt.training.classifier import Classifier

    if path not in _MODELS:
        _MODELS[path] = Classifier.load(Path(path), family=family)  # the config's family, not the file's word
    return _MODELS[path]


class ClassifierHistProcessor(processor.ProcessorABC):
    """Applies a hepopt classifier and fills its output per dataset and variation.

    ``process`` returns ``{"hist": Hist(dataset, variation, score), "sumw": {dataset/variation:
    sum of generator weights before the selection}}`` with the generator weights; :meth:`normalise`
    scales each dataset and variation to luminosity x cross-section / sum of weights, the same
    normalisation as the training data. Weight-based variations are filled from the nominal
    events with their factor. The model file path, not the model, travels to the workers.
    """

    def __init__(self, config: HepoptConfig, model_path: str | Path, bins: int | list[float] = 20) -> None:
        self.config = config
        self.spec = FeatureSpec.from_config(config)
        self.features = FeatureProcessor(self.spec)
        self.model_path = str(Path(model_path).resolve())
        self.bins = bins

    def _empty(self) -> Any:
        import hist

        axis = (
            hist.axis.Regular(self.bins, 0.0, 1.0, name="score", label="classifier output")
            if isinstance(self.bins, int)
            else hist.axis.Variable(self.bins, name="score", label="classifier output")
        )
        return hist.Hist(
            hist.axis.StrCategory([], name="dataset", growth=True),
            hist.axis.StrCategory([], name="variation", growth=True),
            axis,
            storage=hist.storage.Weight(),
        )

    def process(self, events: Any) -> dict[str, Any]:
        meta = events.metadata
        key = meta["dataset"]
        columns = self.features.process(events)[key]
        model = _model(self.model_path, self.config.model.family)
        names = next(iter(columns["feature_names"]))
        order = [names.index(v) for v in model.feature_names]  # the model's variables, its order
        x = columns["features"][0][:, order]
        scores = np.clip(model.predict(x), 0.0, 1.0 - 1e-12) if len(x) else np.empty(0)
        h = self._empty()
        dataset, variation = meta["hepopt_dataset"], meta["hepopt_variation"]
        weight = columns["weight"][0]
        h.fill(dataset=dataset, variation=variation, score=scores, weight=weight)
        sumw = {key: columns["sumw"]}
        if variation == NOMINAL:
            for vname, factor in columns["weight_factors"].items():
                h.fill(dataset=dataset, variation=vname, score=scores, weight=weight * factor[0])
        return {"hist": h, "sumw": sumw}

    def postprocess(self, accumulator: Any) -> Any:
        return accumulator

    def normalise(self, output: dict[str, Any]) -> Any:
        """The histogram scaled to expected events (luminosity x cross-section / sum of weights)."""
        h = output["hist"].copy()
        view = h.view(flow=True)
        for i, dataset in enumerate(h.axes["dataset"]):
            ds = self.config.datasets[dataset]
            if ds.cross_section is None:
                continue  # the weights are already yields
            for j, variation in enumerate(h.axes["variation"]):
                source = variation if f"{dataset}/{variation}" in output["sumw"] else NOMINAL
                sumw = ds.sum_weights if ds.sum_weights is not None else output["sumw"][f"{dataset}/{source}"]
                scale = self.config.luminosity * ds.cross_section / sumw  # type: ignore[operator]
                view.value[i, j] *= scale
                view.variance[i, j] *= scale**2
        return h


def pyhf_workspace(
    h: Any,
    config: HepoptConfig,
    measurement: str | None = None,
    mc_stat: bool = True,
    templates: TemplateTreatment | None = None,
) -> dict[str, Any]:
    """A pyhf workspace of the classifier output: one sample per dataset, ``mu`` on the signal
    ones, a histosys per systematic (``x_up``/``x_down`` pairs; ``templates``: their smoothing,
    symmetrisation and pruning), with ``mc_stat`` a staterror from the histogram's variances (the
    sum of squared weights), and Asimov data (the nominal sum): the model ``robust_significance``
    fits."""
    from hepopt.stats.histosys import histosys_spec, nuisance_templates
    from hepopt.stats.pyhf_fit import asimov_workspace

    datasets = list(h.axes["dataset"])
    variations = [v for v in h.axes["variation"] if v != NOMINAL]

    def values(dataset: str, variation: str) -> np.ndarray:
        return np.asarray(h[{"dataset": dataset, "variation": variation}].values(), dtype=np.float64)

    nominal = {d: values(d, NOMINAL) for d in datasets}
    signal = {d for d in datasets if config.datasets[d].role == "signal"}
    systematics = nuisance_templates(nominal, variations, lambda variation, d: values(d, variation), templates)
    errors = None
    if mc_stat:
        errors = {
            d: np.sqrt(np.asarray(h[{"dataset": d, "variation": NOMINAL}].variances(), dtype=np.float64))
            for d in datasets
        }
    spec = histosys_spec(nominal, signal, systematics, errors)
    return asimov_workspace(spec, measurement or f"{config.name}_discovery")
