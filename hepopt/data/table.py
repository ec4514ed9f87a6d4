"""The columnar event table every later stage works on, and its on-disk form."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hepopt.errors import StateError

NOMINAL = "nominal"
REBUILD = "rerun with --force to rebuild it from the ROOT files (or delete it)"
FORMAT_VERSION = 4  # 4: rows of each sample in event-id order


@dataclass(frozen=True)
class EventTable:
    """Events of all datasets and variations, one row each.

    Attributes:
        features: float32 ``[n_events, n_features]``.
        label: int8, 1 for signal and 0 for background.
        weight: float64 expected yield of the event at the config's luminosity.
        dataset: int16 index into ``dataset_names``.
        variation: int16 index into ``variation_names`` (0 is ``"nominal"``); rows of a
            file-based variation are extra events read from the alternative files.
        event_id: int64 event number (or file index and entry) used for reproducible splits.
        weight_factors: per weight-based variation, the factor that multiplies ``weight``.
        factor_datasets: per weight-based variation, the datasets it applies to.
        nuisance: float64 continuous nuisance value per event: 0 for nominal events, the
            variation's per-event ``nuisance`` expression for its events, NaN where none is given.
        split_key: int64 value of ``data.split.column`` per event (a modulo split on a column
            other than the event id), else None.
    """

    features: np.ndarray
    label: np.ndarray
    weight: np.ndarray
    dataset: np.ndarray
    variation: np.ndarray
    event_id: np.ndarray
    feature_names: tuple[str, ...]
    dataset_names: tuple[str, ...]
    variation_names: tuple[str, ...] = (NOMINAL,)
    weight_factors: dict[str, np.ndarray] = field(default_factory=dict)
    factor_datasets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    nuisance: np.ndarray | None = None
    split_key: np.ndarray | None = None

    def fingerprint(self) -> str:
        """A short hash of the events (features, labels, weights, datasets, variations): which
        data a model was trained on, recorded with exported models."""
        digest = hashlib.sha256()
        for array in (self.features, self.label, self.weight, self.dataset, self.variation, self.event_id):
            digest.update(np.ascontiguousarray(array).tobytes())
        if self.split_key is not None:
            digest.update(np.ascontiguousarray(self.split_key).tobytes())
        digest.update(json.dumps([self.feature_names, self.dataset_names, self.variation_names]).encode())
        return digest.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.label)

    def select(self, mask: np.ndarray) -> EventTable:
        """The rows where ``mask`` is true (or at the given indices)."""
        return EventTable(
            self.features[mask],
            self.label[mask],
            self.weight[mask],
            self.dataset[mask],
            self.variation[mask],
            self.event_id[mask],
            self.feature_names,
            self.dataset_names,
            self.variation_names,
            {k: v[mask] for k, v in self.weight_factors.items()},
            self.factor_datasets,
            None if self.nuisance is None else self.nuisance[mask],
            None if self.split_key is None else self.split_key[mask],
        )

    def nominal(self) -> EventTable:
        return self.select(self.variation == 0)

    @property
    def systematic_names(self) -> tuple[str, ...]:
        """File-based variations first, then weight-based ones."""
        return (*self.variation_names[1:], *self.weight_factors)

    def affected_datasets(self, variation: str) -> tuple[int, ...]:
        """Indices of the datasets that have a varied version under ``variation``."""
        if variation in self.weight_factors:
            return tuple(self.dataset_names.index(d) for d in self.factor_datasets[variation])
        index = self.variation_names.index(variation)
        return tuple(int(d) for d in np.unique(self.dataset[self.variation == index]))

    def save(self, path: Path) -> None:
        """Write an uncompressed ``.npz`` (fast to reload; readable without pickle)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        factors = {f"factor:{k}": v for k, v in self.weight_factors.items()}
        factors |= {f"factor_datasets:{k}": np.array(v, dtype=str) for k, v in self.factor_datasets.items()}
        if self.nuisance is not None:
            factors["nuisance"] = self.nuisance
        if self.split_key is not None:
            factors["split_key"] = self.split_key
        np.savez(
            tmp,
            format_version=np.int64(FORMAT_VERSION),
            features=self.features,
            label=self.label,
            weight=self.weight,
            dataset=self.dataset,
            variation=self.variation,
            event_id=self.event_id,
            feature_names=np.array(self.feature_names, dtype=str),
            dataset_names=np.array(self.dataset_names, dtype=str),
            variation_names=np.array(self.variation_names, dtype=str),
            **factors,  # type: ignore[arg-type]  # numpy's stub types **arrays as its bool options
        )
        tmp.replace(path)  # atomic: a killed run never leaves a half-written cache

    @classmethod
    def load(cls, path: Path) -> EventTable:
        """Read a cache written by :meth:`save`.

        Raises:
            StateError: the file is truncated, not a cache, from another hepopt version, or its
                arrays disagree (e.g. in length), naming it and saying how to rebuild it.
        """
        try:
            with np.load(path, allow_pickle=False) as npz:
                if int(npz["format_version"]) != FORMAT_VERSION:
                    msg = f"{path}: event cache written by another hepopt version; {REBUILD}"
                    raise StateError(msg)
                table = cls(
                    features=npz["features"],
                    label=npz["label"],
                    weight=npz["weight"],
                    dataset=npz["dataset"],
                    variation=npz["variation"],
                    event_id=npz["event_id"],
                    feature_names=tuple(str(x) for x in npz["feature_names"]),
                    dataset_names=tuple(str(x) for x in npz["dataset_names"]),
                    variation_names=tuple(str(x) for x in npz["variation_names"]),
                    weight_factors={k.removeprefix("factor:"): npz[k] for k in npz.files if k.startswith("factor:")},
                    factor_datasets={
                        k.removeprefix("factor_datasets:"): tuple(str(x) for x in npz[k])
                        for k in npz.files
                        if k.startswith("factor_datasets:")
                    },
                    nuisance=npz["nuisance"] if "nuisance" in npz.files else None,
                    split_key=npz["split_key"] if "split_key" in npz.files else None,
                )
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            msg = f"{path}: unreadable event cache ({type(err).__name__}: {err}); {REBUILD}"
            raise StateError(msg) from err
        problem = table.inconsistency()
        if problem:
            msg = f"{path}: damaged event cache ({problem}); {REBUILD}"
            raise StateError(msg)
        return table

    def inconsistency(self) -> str | None:
        """What makes this table impossible (arrays of different lengths, indices out of range),
        or None. A cache that was cut or edited must not reach the training as wrong events."""
        n = len(self.label)
        columns = {
            "weight": self.weight, "dataset": self.dataset, "variation": self.variation, "event_id": self.event_id,
            **{f"factor:{k}": v for k, v in self.weight_factors.items()},
            **({"nuisance": self.nuisance} if self.nuisance is not None else {}),
            **({"split_key": self.split_key} if self.split_key is not None else {}),
        }  # fmt: skip
        if self.features.ndim != 2 or self.features.shape != (n, len(self.feature_names)):
            return f"features have shape {self.features.shape} for {n} events and {len(self.feature_names)} variables"
        for name, column in columns.items():
            if column.shape != (n,):
                return f"'{name}' has shape {column.shape} for {n} events"
        if n and (self.dataset.min() < 0 or self.dataset.max() >= len(self.dataset_names)):
            return "dataset indices out of range"
        if n and (self.variation.min() < 0 or self.variation.max() >= len(self.variation_names)):
            return "variation indices out of range"
        if not np.isin(self.label, (0, 1)).all():
            return "labels other than 0 and 1"
        return None
