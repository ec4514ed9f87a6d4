"""The data stage: config -> coffea processor over the ROOT files -> cached :class:`EventTable`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hepopt.config.schema import HepoptConfig
from hepopt.data.features import FeatureCallable, FeatureSpec
from hepopt.data.fileset import (
    FileInfo,
    Sample,
    ascii_links,
    check_samples,
    coffea_fileset,
    file_identity,
    samples_from_config,
    work_items,
)
from hepopt.data.table import FORMAT_VERSION, NOMINAL, EventTable
from hepopt.errors import ConfigError, DataError, HepoptError

CACHE_DIR = "prepare"  # the prepare stage's folder


def prepare_data(
    config: HepoptConfig, *, progress: bool = True, use_cache: bool | None = None, rebuild: bool = False
) -> EventTable:
    """Read all samples of ``config`` through the coffea processor into one event table.

    The table is cached under ``<output>/prepare/`` keyed by the data part of the config and the
    identity (path, size, mtime) of every input file, so a second run does not read ROOT again;
    ``rebuild`` (``--force``) reads the files again and replaces the cache.

    Raises:
        DataError: a missing file, tree or branch, a failing expression, a non-finite feature,
            or a selection that leaves no events, each naming what is wrong and where.
    """
    spec = FeatureSpec.from_config(config)
    samples = samples_from_config(config)
    use_cache = config.data.cache if use_cache is None else use_cache
    cache_path = config.output_dir / CACHE_DIR / f"events-{cache_key(config, samples)}.npz"
    if use_cache and cache_path.is_file() and not rebuild:
        return EventTable.load(cache_path)
    files = check_samples(samples, spec)  # every file opened once here, its chunks cut from it
    output = run_processor(config, spec, samples, progress=progress, files=files)
    table = build_table(config, samples, output)
    if use_cache:
        table.save(cache_path)
    return table


def data_key(config: HepoptConfig) -> str:
    """The cache key of ``config``'s table (data settings and input files), without reading
    events or importing the feature callables' modules."""
    return cache_key(config, samples_from_config(config))


def cache_key(config: HepoptConfig, samples: list[Sample]) -> str:
    """Changes when anything that changes the table changes, and only then."""
    callables = [
        FeatureCallable(text, str(config.base_dir.resolve()))
        for kind, text in config.feature_entries()
        if kind == "callable"
    ]
    payload = {
        "format": FORMAT_VERSION,
        "datasets": {k: v.model_dump() for k, v in config.datasets.items()},
        "variations": {k: v.model_dump() for k, v in config.variations.items()},
        "features": config.features,
        "selection": config.selection,
        "luminosity": config.luminosity,
        "schema": config.data.schema_,
        "event_id": config.data.event_id,
        "split_column": config.data.split.column,
        "files": [file_identity(p) for s in samples for p in s.files],
        "callables": [[c.path, _source_identity(c.source_file())] for c in callables],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _source_identity(path: Path | None) -> Any:
    return None if path is None else file_identity(path)


def run_processor(
    config: HepoptConfig,
    spec: FeatureSpec,
    samples: list[Sample],
    *,
    progress: bool = True,
    files: dict[tuple[Path, str], FileInfo] | None = None,
) -> dict[str, Any]:
    """Run :class:`FeatureProcessor` with coffea's Runner and the configured executor; with what
    :func:`check_samples` found in the ``files`` the chunks are handed to coffea directly
    instead of coffea opening every file first to count them."""
    from coffea import processor
    from coffea.nanoevents import BaseSchema, NanoAODSchema

    from hepopt.data.processor import FeatureProcessor

    schema = NanoAODSchema if config.data.schema_ == "nanoaod" else BaseSchema
    with _executor(config, progress) as executor, _coffea_quiet(not progress), ascii_links(samples) as links:
        # In this process (iterative) the processor is not sent anywhere: no pickling per chunk.
        compression = None if config.data.executor == "iterative" else 1
        runner = processor.Runner(
            executor=executor, schema=schema, chunksize=config.data.chunksize, processor_compression=compression
        )
        chunks = (
            coffea_fileset(samples, links)
            if files is None
            else work_items(samples, files, config.data.chunksize, links)
        )
        try:
            return runner(chunks, processor_instance=FeatureProcessor(spec))
        except HepoptError:
            raise
        except Exception as err:
            raise _unwrap(err, links) from err


@contextmanager
def _executor(config: HepoptConfig, progress: bool) -> Iterator[Any]:
    """coffea's executor for ``data.executor``; for dask, a client of ``data.dask_scheduler`` or
    of a local cluster of ``data.workers`` processes on loopback without a dashboard."""
    from coffea import processor

    data = config.data
    if data.executor == "iterative":
        yield processor.IterativeExecutor(status=progress, retries=0)
    elif data.executor == "futures":
        yield processor.FuturesExecutor(workers=data.workers, status=progress, retries=0)
    else:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            msg = f"{config.source}: data.executor: 'dask' needs dask.distributed (pip install 'hepopt[dask]')"
            raise ConfigError(msg) from None
        cluster = None
        if data.dask_scheduler is None:
            cluster = LocalCluster(
                n_workers=data.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
            )
        client = Client(cluster or data.dask_scheduler)
        try:
            yield processor.DaskExecutor(client=client, status=progress, retries=0)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def _unwrap(err: BaseException, links: dict[Path, str] | None = None) -> HepoptError:
    """coffea wraps a worker's exception in a generic one: find ours again, or name theirs; a
    file that cannot be read (uproot's OSError, e.g. while coffea reads the branches up front)
    is named, as the input it is."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, HepoptError):
            return seen
        if isinstance(seen, OSError):
            text = " ".join(str(seen).split())
            named = re.search(r"for file path (\S+)", text)
            path = named.group(1) if named else None
            path = next((str(p) for p, link in (links or {}).items() if link == path), path)
            where = f"{path}: cannot read the file" if path else "cannot read an input file"
            return DataError(f"{where} (damaged or truncated?): {text}")
        seen = seen.__cause__ or seen.__context__
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return DataError(f"coffea processing failed: {text}")


@contextmanager
def _coffea_quiet(quiet: bool) -> Iterator[None]:
    """coffea prints its progress bars even with ``status=False``; its console has a switch."""
    from coffea.util import coffea_console

    previous = coffea_console.quiet
    coffea_console.quiet = quiet or previous
    try:
        yield
    finally:
        coffea_console.quiet = previous


def build_table(config: HepoptConfig, samples: list[Sample], output: dict[str, Any]) -> EventTable:
    """Concatenate the processor's columns and normalise weights to luminosity x cross-section."""
    dataset_names = tuple(config.datasets)
    variation_names = (NOMINAL, *[v for v, var in config.variations.items() if var.datasets])
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("features", "weight", "event_id", "dataset", "variation", "nuisance", "split_key")
    }
    factors: dict[str, list[np.ndarray]] = {v: [] for v, var in config.variations.items() if var.weight}
    feature_names: tuple[str, ...] | None = None
    labels = []
    for sample in samples:
        out = output.get(sample.coffea_key)
        n = 0 if out is None else sum(len(w) for w in out["weight"])
        if n == 0:
            read = 0 if out is None else out["n_read"]
            msg = (
                f"selection leaves no events in dataset '{sample.dataset}' "
                f"(variation '{sample.variation}', {read} events read from {len(sample.files)} file(s))"
            )
            raise DataError(msg)
        assert out is not None  # n > 0
        names = out["feature_names"]
        if len(names) != 1 or (feature_names is not None and next(iter(names)) != feature_names):
            msg = f"feature callables return different feature names across chunks: {sorted(names)}"
            raise DataError(msg)
        feature_names = next(iter(names))
        # Rows in event-id order: the table does not depend on the order the executor's chunks
        # came back in (futures, dask), so the same files give the same table and the same models.
        order = np.argsort(np.concatenate(out["event_id"]), kind="stable")
        gen_weight = np.concatenate(out["weight"])[order]
        ds = config.datasets[sample.dataset]
        scale = 1.0
        if ds.cross_section is not None:
            sumw = ds.sum_weights if ds.sum_weights is not None else out["sumw"]
            if sumw <= 0:
                msg = f"datasets.{sample.dataset}: sum of generator weights is {sumw:g}; cannot normalise"
                raise DataError(msg)
            scale = config.luminosity * ds.cross_section / sumw  # type: ignore[operator]
        parts["features"].append(np.concatenate(out["features"])[order])
        parts["weight"].append(gen_weight * scale)
        parts["event_id"].append(np.concatenate(out["event_id"])[order])
        parts["nuisance"].append(np.concatenate(out["nuisance"])[order])
        if config.data.split.column is not None:
            parts["split_key"].append(np.concatenate(out["split_key"])[order])
        parts["dataset"].append(np.full(n, dataset_names.index(sample.dataset), np.int16))
        parts["variation"].append(np.full(n, variation_names.index(sample.variation), np.int16))
        labels.append(np.full(n, 1 if ds.role == "signal" else 0, np.int8))
        for vname, columns in factors.items():
            columns.append(np.concatenate(out["weight_factors"][vname])[order])
    return EventTable(
        features=np.concatenate(parts["features"]).astype(np.float32, copy=False),
        label=np.concatenate(labels),
        weight=np.concatenate(parts["weight"]),
        dataset=np.concatenate(parts["dataset"]),
        variation=np.concatenate(parts["variation"]),
        event_id=np.concatenate(parts["event_id"]),
        feature_names=feature_names or (),
        dataset_names=dataset_names,
        variation_names=variation_names,
        weight_factors={k: np.concatenate(v) for k, v in factors.items()},
        factor_datasets={k: tuple(config.variations[k].applies_to or dataset_names) for k in factors},
        nuisance=np.concatenate(parts["nuisance"]) if any(v.nuisance for v in config.variations.values()) else None,
        split_key=np.concatenate(parts["split_key"]) if parts["split_key"] else None,
    )
