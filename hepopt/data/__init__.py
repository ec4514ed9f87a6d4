"""The data stage: ROOT files -> coffea processor -> cached columnar :class:`EventTable`."""

from __future__ import annotations

from hepopt.data.splits import TEST, TRAIN, VALIDATION, assign_splits, full_luminosity_scale
from hepopt.data.table import NOMINAL, EventTable

__all__ = [
    "NOMINAL",
    "TEST",
    "TRAIN",
    "VALIDATION",
    "EventTable",
    "assign_splits",
    "full_luminosity_scale",
    "prepare_data",
]


def __getattr__(name: str) -> object:
    # prepare_data pulls in coffea (~1 s); import it only when asked for.
    if name == "prepare_data":
        from hepopt.data.stage import prepare_data

        return prepare_data
    msg = f"module 'hepopt.data' has no attribute {name!r}"
    raise AttributeError(msg)
