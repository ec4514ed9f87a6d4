"""Deterministic train/validation/test splits.

The split of an event depends only on (seed, dataset, event id), through a hash, or, as many
analyses split, on its event number (or another integer column) modulo N: the nominal event and
its jet-energy-scale-shifted copy land in the same split, and adding files or reordering them
does not move any event from training to test.
"""

from __future__ import annotations

import zlib

import numpy as np

from hepopt.config.split_rule import SplitRule
from hepopt.data.table import EventTable

TRAIN, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "validation", "test")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A fast, well-mixed 64-bit hash (vectorised; uint64 arithmetic wraps by design)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniform_from_ids(event_id: np.ndarray, dataset_key: np.ndarray, seed: int) -> np.ndarray:
    """A number in [0, 1) per event that depends only on its id, its dataset key and the seed."""
    with np.errstate(over="ignore"):
        mixed = _splitmix64(event_id.astype(np.uint64) ^ _splitmix64(dataset_key.astype(np.uint64) + np.uint64(seed)))
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assign_splits(table: EventTable, rule: SplitRule | tuple[float, float, float], seed: int) -> np.ndarray:
    """int8 array: 0 train, 1 validation, 2 test, by ``rule`` (or the expected fractions)."""
    rule = rule if isinstance(rule, SplitRule) else SplitRule(rule)
    if rule.modulo is not None:
        residue = np.mod(split_keys(table), rule.modulo)
        split = np.full(len(table), TRAIN, dtype=np.int8)
        split[np.isin(residue, rule.validation)] = VALIDATION
        split[np.isin(residue, rule.test)] = TEST
        return split
    # A stable key per dataset name, so that renaming or reordering other datasets changes nothing.
    keys = np.array([zlib.crc32(name.encode()) for name in table.dataset_names], dtype=np.uint64)
    u = uniform_from_ids(table.event_id, keys[table.dataset], seed)
    edges = np.cumsum(rule.fractions)[:-1]
    return np.searchsorted(edges, u, side="right").astype(np.int8)


def split_keys(table: EventTable) -> np.ndarray:
    """The integer a modulo split divides: the ``split.column`` values when the table has them,
    else the event id."""
    return table.event_id if table.split_key is None else table.split_key


def full_luminosity_scale(table: EventTable, split: np.ndarray, which: int) -> np.ndarray:
    """Per-event factor that scales the weights of one split back to the full luminosity.

    Per (dataset, variation), it is the number of all events over the number in the split, so a
    histogram of the test set predicts the yields of the whole sample.
    """
    group = table.dataset.astype(np.int64) * len(table.variation_names) + table.variation
    n_groups = len(table.dataset_names) * len(table.variation_names)
    total = np.bincount(group, minlength=n_groups)
    in_split = np.bincount(group[split == which], minlength=n_groups)
    factor = np.divide(total, in_split, out=np.zeros(n_groups), where=in_split > 0)
    return factor[group]


def cross_validation_split(
    table: EventTable, split: np.ndarray, folds: int, fold: int, by: str, seed: int, stride: int = 1
) -> np.ndarray:
    """Fold ``fold`` of ``folds`` over the events outside the test split: its events become the
    validation split, all others the training split; the test split is left as it is.

    ``by="event_number"`` puts an event in fold ``event_id % folds`` (the way HEP analyses split,
    so that every event is used and the model applied to an event never saw it); ``"random"``
    uses a hash of (seed, dataset, event id), so varied copies follow their nominal event.
    ``stride``: the modulo of a modulo split; folds then go by ``(key // stride) % folds``, so
    that they do not alias with the split's residues (with ``event % 5`` for test, ``event % 5``
    folds would leave one fold empty).
    """
    if by == "event_number":
        fold_of = np.mod(np.floor_divide(split_keys(table), stride), folds)
    else:
        keys = np.array([zlib.crc32(name.encode()) for name in table.dataset_names], dtype=np.uint64)
        fold_of = np.floor(uniform_from_ids(table.event_id, keys[table.dataset], seed + 1) * folds).astype(np.int64)
    out = split.copy()
    outside_test = split != TEST
    out[outside_test & (fold_of == fold)] = VALIDATION
    out[outside_test & (fold_of != fold)] = TRAIN
    return out
