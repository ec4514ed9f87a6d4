"""The columns a config asks for: feature expressions, feature callables, weights, selection.

:class:`FeatureSpec` is built once from the config on the driver and shipped (pickled) to the
coffea workers, so it holds only plain data and parsed expressions.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hepopt.config.expression_syntax import feature_where
from hepopt.config.schema import HepoptConfig
from hepopt.data.expressions import Expression, as_numpy
from hepopt.errors import ConfigError, DataError


@dataclass(frozen=True)
class FeatureCallable:
    """``pkg.module:func``: a user function ``func(events) -> dict[name, array]``.

    The module is imported as installed or from ``sys.path``; failing that, from ``search_dir``
    (the config file's folder), so an analysis can keep its feature code next to its config.
    """

    path: str
    search_dir: str | None = None

    def load(self) -> Callable[[Any], dict[str, Any]]:
        module_name, _, attr = self.path.partition(":")
        try:
            module = self._import(module_name)
        except ImportError as err:
            msg = f"features: cannot import module '{module_name}' for callable '{self.path}': {err}"
            raise ConfigError(msg) from err
        func = getattr(module, attr, None)
        if not callable(func):
            msg = f"features: '{self.path}' is not a callable in module '{module_name}'"
            raise ConfigError(msg)
        return func

    def _import(self, module_name: str) -> Any:
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            top = module_name.partition(".")[0]
            if self.search_dir is None or err.name != top or self.search_dir in sys.path:
                raise
            sys.path.append(self.search_dir)  # for this import only: the caller's sys.path is theirs
            try:
                return importlib.import_module(module_name)
            finally:
                sys.path.remove(self.search_dir)

    def source_file(self) -> Path | None:
        """The module's file, found without importing it (``hepopt status`` keys the event cache
        by it and must run none of the module's code); None when it cannot be found."""
        module_name = self.path.partition(":")[0]
        loaded = sys.modules.get(module_name)
        if loaded is not None:
            file = getattr(loaded, "__file__", None)
            return Path(file) if file else None
        top, *rest = module_name.split(".")
        spec = importlib.util.find_spec(top) if top not in sys.modules else sys.modules[top].__spec__
        if spec is None and self.search_dir is not None:
            spec = importlib.machinery.PathFinder.find_spec(top, [self.search_dir])
        name = top
        for part in rest:  # sub-modules found in their package's folders, the package not run
            if spec is None or not spec.submodule_search_locations:
                return None
            name = f"{name}.{part}"
            spec = importlib.machinery.PathFinder.find_spec(name, list(spec.submodule_search_locations))
        return Path(spec.origin) if spec is not None and spec.origin and spec.has_location else None


@dataclass(frozen=True)
class FeatureSpec:
    """Everything the coffea processor computes per event."""

    expressions: tuple[tuple[str, Expression], ...]
    callables: tuple[FeatureCallable, ...]
    selection: Expression | None
    weights: dict[str, Expression]
    weight_variations: dict[str, tuple[Expression, frozenset[str]]] = field(default_factory=dict)
    event_id: str | None = None
    nuisance: dict[str, Expression] = field(default_factory=dict)
    split_column: Expression | None = None  # data.split.column: the integer a modulo split divides

    @classmethod
    def from_config(cls, config: HepoptConfig, load_callables: bool = True) -> FeatureSpec:
        """The spec of ``config``; ``load_callables=False`` (``hepopt check``) imports no feature
        callable's module, only checks that its source file exists."""
        expressions, callables = [], []
        for i, (kind, text) in enumerate(config.feature_entries()):
            if kind == "callable":
                callable_ = FeatureCallable(text, str(config.base_dir.resolve()))
                if load_callables:
                    callable_.load()  # fail on the driver, not inside a worker
                elif callable_.source_file() is None:
                    msg = (
                        f"{feature_where(i, 'callable')}: module of '{text}' not found (installed or beside the config)"
                    )
                    raise ConfigError(msg)
                callables.append(callable_)
            else:
                name = kind.removeprefix("expr:")
                expressions.append((name, Expression(text, feature_where(i, name))))
        selection = Expression(config.selection, "selection") if config.selection else None
        weights = {name: Expression(ds.weight, f"datasets.{name}.weight") for name, ds in config.datasets.items()}
        weight_variations = {
            name: (
                Expression(var.weight, f"variations.{name}.weight"),
                frozenset(var.applies_to or config.datasets),
            )
            for name, var in config.variations.items()
            if var.weight is not None
        }
        nuisance = {
            name: Expression(var.nuisance, f"variations.{name}.nuisance")
            for name, var in config.variations.items()
            if var.nuisance is not None
        }
        column = config.data.split.column
        split_column = Expression(column, "data.split.column") if column is not None else None
        return cls(
            tuple(expressions),
            tuple(callables),
            selection,
            weights,
            weight_variations,
            config.data.event_id,
            nuisance,
            split_column,
        )

    def branches(self, dataset: str, variation: str | None = None) -> set[str]:
        """Branch names the expressions of ``dataset`` read (callables excepted: they are opaque)."""
        exprs = [e for _, e in self.expressions] + [self.weights[dataset]]
        if variation in self.nuisance:
            exprs.append(self.nuisance[variation])
        exprs += [e for e, applies in self.weight_variations.values() if dataset in applies]
        if self.selection is not None:
            exprs.append(self.selection)
        if self.split_column is not None:
            exprs.append(self.split_column)
        names = {b for e in exprs for b in e.branches}
        if self.event_id:
            names.add(self.event_id)
        return names


def resolver(events: Any, where: str) -> Callable[[str], Any]:
    """Look a branch name up in coffea events: ``Jet_pt``, ``Jet.pt`` and ``MET_pt`` work for
    flat-ntuple (BaseSchema) and NanoAOD (NanoAODSchema) events alike."""
    fields = set(events.fields)
    found: dict[str, Any] = {}  # each branch looked up once per chunk, however many expressions read it

    def resolve(name: str) -> Any:
        if name not in found:
            found[name] = as_numpy(_lookup(name))  # a flat branch as numpy: see as_numpy
        return found[name]

    def _lookup(name: str) -> Any:
        if name in fields:
            return events[name]
        parts = name.split(".") if "." in name else name.split("_", 1)
        if parts[0] in fields:
            value = events[parts[0]]
            try:
                for part in parts[1:]:
                    value = value[part]
            except (ValueError, KeyError, AttributeError):
                pass
            else:
                return value
        flat = name.replace(".", "_")
        if flat in fields:
            return events[flat]
        msg = f"branch '{name}' not found in {where}; available: {_preview(sorted(fields))}"
        raise DataError(msg)

    return resolve


def selected(resolve: Callable[[str], Any], passed: np.ndarray) -> Callable[[str], Any]:
    """``resolve`` on the events where ``passed`` is true: each branch filtered once, when read."""
    found: dict[str, Any] = {}

    def resolve_selected(name: str) -> Any:
        if name not in found:
            found[name] = resolve(name)[passed]
        return found[name]

    return resolve_selected


def to_column(value: Any, n_events: int, what: str, dtype: type = np.float32) -> np.ndarray:
    """Turn an expression result into one flat numpy value per event, or say why it cannot be."""
    if np.isscalar(value):
        return np.full(n_events, value, dtype=dtype)
    array = ak.Array(value) if not isinstance(value, ak.Array | np.ndarray) else value
    if isinstance(array, ak.Array):
        if array.ndim != 1:
            msg = (
                f"{what} gives a list per event; reduce it to one number, "
                "e.g. nth(Jet_pt, 0, fill=-1), num(Jet_pt) or max(Jet_pt)"
            )
            raise DataError(msg)
        # Only an option type can hold a missing value: no scan of the others.
        if array.layout.is_option and ak.any(ak.is_none(array, axis=0)):
            msg = f"{what} has missing values; give a fill value, e.g. nth(x, 0, fill=-1)"
            raise DataError(msg)
        array = ak.to_numpy(array)
    if len(array) != n_events:
        msg = f"{what} has {len(array)} values for {n_events} events"
        raise DataError(msg)
    return np.asarray(array, dtype=dtype)


def _preview(names: list[str], limit: int = 15) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)} branches)"
