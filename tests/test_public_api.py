"""The public API is frozen: a name leaves ``hepopt.__all__`` (or changes what it is) only on
purpose, with this test changed beside it. Module paths inside the package may move."""

from __future__ import annotations

import inspect

import pytest

import hepopt

PUBLIC = [
    "Classifier",
    "ConfigError",
    "DataError",
    "EventTable",
    "ExportedModel",
    "HepoptError",
    "Objective",
    "ObjectiveInputs",
    "ObjectiveResult",
    "PluginError",
    "TrainingError",
    "__version__",
    "apply",
    "eliminate",
    "load_config",
    "optimize",
    "prepare_data",
]


def test_all_is_frozen() -> None:
    assert sorted(hepopt.__all__) == PUBLIC
    assert dir(hepopt) == PUBLIC


def test_every_public_name_resolves_to_what_it_was() -> None:
    kinds = {name: type(getattr(hepopt, name)).__name__ for name in PUBLIC}
    assert {n for n, k in kinds.items() if k == "function"} == {
        "apply",
        "eliminate",
        "load_config",
        "optimize",
        "prepare_data",
    }
    assert all(issubclass(getattr(hepopt, n), hepopt.HepoptError) for n in PUBLIC if n.endswith("Error"))
    assert list(inspect.signature(hepopt.optimize).parameters) == [
        "config",
        "coffea_config",
        "progress",
        "n_trials",
        "trial_callbacks",
        "on_stage",
        "on_iteration",
        "force",
    ]
    assert list(inspect.signature(hepopt.eliminate).parameters) == [
        "config",
        "progress",
        "on_stage",
        "on_iteration",
        "force",
    ]
    assert hepopt.optimize.__module__ == "hepopt.api"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        hepopt.nope  # noqa: B018 - the attribute access is the test
