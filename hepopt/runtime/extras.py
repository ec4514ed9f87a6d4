"""The optional parts of hepopt and what installs them: a feature that needs one says so in one
line (``pip install 'hepopt[ray]'``) instead of failing inside a library."""

from __future__ import annotations

import importlib

from hepopt.errors import HepoptError

# extra -> (the module that must import, what it provides)
EXTRAS = {
    "ray": ("ray.tune", "Ray"),
    "export": ("onnxscript", "ONNX export"),
    "dask": ("distributed", "dask's distributed scheduler"),
    "dashboard": ("optuna_dashboard", "optuna-dashboard"),
    "postgres": ("psycopg", "the PostgreSQL driver psycopg"),
}


class MissingExtraError(HepoptError):
    """A feature needs an optional dependency that is not installed."""


def has_extra(extra: str) -> bool:
    """Whether ``extra``'s module imports here."""
    try:
        importlib.import_module(EXTRAS[extra][0])
    except ImportError:
        return False
    return True


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` naming ``feature`` and the extra that installs it."""
    if not has_extra(extra):
        module, what = EXTRAS[extra]
        msg = f"{feature} needs {what} ({module} is not installed): pip install 'hepopt[{extra}]'"
        raise MissingExtraError(msg)
