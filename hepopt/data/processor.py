"""The coffea processor that turns events into hepopt's columns.

It returns, per fileset entry (one dataset under one variation), lists of numpy arrays that
coffea's ``accumulate`` concatenates across chunks, plus the sum of generator weights before the
selection, which the luminosity normalisation needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from coffea import processor

from hepopt.data.features import FeatureSpec, resolver, selected, to_column
from hepopt.errors import DataError, HepoptError

# Event ids made from the entry number carry the file's index in the bits above this one, so
# that events of different files of one dataset never share an id.
FILE_INDEX_SHIFT = 40


class FeatureProcessor(processor.ProcessorABC):
    """Computes features, weights, selection and event ids of one chunk of events.

    The fileset metadata of each entry must carry ``hepopt_dataset``, ``hepopt_variation``, and
    ``file_index`` (file path -> position in the dataset's sorted file list).
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec

    def process(self, events: Any) -> dict[str, Any]:
        meta = events.metadata
        filename = meta.get("file_names", {}).get(meta["filename"], meta["filename"])  # the real path, not a link
        where = f"{filename}:{meta['treename']}"
        try:
            return {meta["dataset"]: self._columns(events, meta, where)}
        except HepoptError:
            raise
        except OSError as err:  # uproot cannot read a basket: the file is cut short or damaged
            msg = f"{where}: cannot read the file (damaged or truncated?): {' '.join(str(err).split())}"
            raise DataError(msg) from err
        except Exception as err:
            msg = f"processing {where} failed: {type(err).__name__}: {' '.join(str(err).split())}"
            raise DataError(msg) from err

    def _columns(self, events: Any, meta: dict[str, Any], where: str) -> dict[str, Any]:
        dataset, n_read = meta["hepopt_dataset"], len(events)
        resolve = resolver(events, where)
        weight_expr = self.spec.weights[dataset]
        weight_value = _evaluate(weight_expr, resolve, where)
        gen_weight = to_column(weight_value, n_read, f"weight of dataset '{dataset}'", np.float64)
        sumw_read = float(gen_weight.sum())  # before the selection: the normalisation needs it
        entry = np.arange(meta["entrystart"], meta["entrystop"], dtype=np.int64)
        if self.spec.selection is not None:
            passed = to_column(_evaluate(self.spec.selection, resolve, where), n_read, "selection", bool)
            gen_weight, entry = gen_weight[passed], entry[passed]
            # The branches the expressions read are filtered one by one (numpy for flat ones);
            # the whole event record only when a feature callable wants it.
            resolve = selected(resolve, passed)
            if self.spec.callables:
                events = events[passed]
        n = len(gen_weight)

        columns = [
            _checked(to_column(_evaluate(expr, resolve, where), n, f"feature '{name}'"), name, where)
            for name, expr in self.spec.expressions
        ]
        names = [name for name, _ in self.spec.expressions]
        for func_spec in self.spec.callables:
            for name, value in _call(func_spec, events, where).items():
                names.append(name)
                column = to_column(value, n, f"feature '{name}' of {func_spec.path}")
                columns.append(_checked(column, name, where))
        if self.spec.event_id:
            event_id = to_column(resolve(self.spec.event_id), n, "event id", np.int64)
        else:
            event_id = (meta["file_index"][meta["filename"]] << FILE_INDEX_SHIFT) + entry

        extra = {}
        if self.spec.split_column is not None:
            value = _evaluate(self.spec.split_column, resolve, where)
            as_float = to_column(value, n, "data.split.column", np.float64)
            if not np.all(np.isfinite(as_float) & (as_float == np.round(as_float))):
                msg = f"data.split.column {self.spec.split_column.text!r} is not a whole number for every event of {where}"
                raise DataError(msg)
            extra["split_key"] = [to_column(value, n, "data.split.column", np.int64)]

        factors = {}
        for vname, (expr, applies) in self.spec.weight_variations.items():
            if dataset in applies:
                what = f"weight of variation '{vname}'"
                factors[vname] = [to_column(_evaluate(expr, resolve, where), n, what, np.float64)]
            else:
                factors[vname] = [np.ones(n)]
        variation = meta["hepopt_variation"]
        if variation in self.spec.nuisance:
            what = f"nuisance of variation '{variation}'"
            nuisance = to_column(_evaluate(self.spec.nuisance[variation], resolve, where), n, what, np.float64)
            nuisance = _checked(nuisance, what, where)
        else:  # 0 for nominal events; NaN: a file variation without per-event values
            nuisance = np.full(n, 0.0 if variation == "nominal" else np.nan)
        return {
            "nuisance": [nuisance],
            "feature_names": {tuple(names)},  # a set: accumulates to one entry when chunks agree
            "features": [np.stack(columns, axis=1) if columns else np.empty((n, 0), np.float32)],
            "weight": [gen_weight],
            "event_id": [event_id],
            "weight_factors": factors,
            "sumw": sumw_read,
            "n_read": n_read,
            **extra,
        }

    def postprocess(self, accumulator: Any) -> Any:
        return accumulator


def _evaluate(expr: Any, resolve: Any, where: str) -> Any:
    try:
        return expr.evaluate(resolve)
    except HepoptError:
        raise
    except Exception as err:
        msg = f"{expr.where}: {expr.text!r} failed on {where}: {type(err).__name__}: {err}"
        raise DataError(msg) from err


def _call(func_spec: Any, events: Any, where: str) -> dict[str, Any]:
    try:
        result = func_spec.load()(events)
    except HepoptError:
        raise
    except Exception as err:
        msg = f"feature callable '{func_spec.path}' failed on {where}: {type(err).__name__}: {err}"
        raise DataError(msg) from err
    if not isinstance(result, dict):
        msg = f"feature callable '{func_spec.path}' must return a dict of name -> array, got {type(result).__name__}"
        raise DataError(msg)
    return result


def _checked(column: np.ndarray, name: str, where: str) -> np.ndarray:
    bad = ~np.isfinite(column)
    if bad.any():
        kind = "NaN" if np.isnan(column).any() else "inf"
        msg = f"feature '{name}' has {int(bad.sum())} non-finite value(s) ({kind}) in {where}"
        raise DataError(msg)
    return column
