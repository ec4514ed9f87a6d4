"""Model families by name: the ``hepopt.models`` entry-point group (the built-ins included), or
a ``package.module:Class`` path for a team's module that is not a registered package."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from functools import cache

from hepopt.errors import ConfigError
from hepopt.models.base import ModelFamily
from hepopt.plugins import load_plugins

GROUP = "hepopt.models"


def load_families(group: str = GROUP) -> dict[str, type[ModelFamily]]:
    """Every installed model family by name, each checked (see :func:`family_class_problem`).

    Raises:
        PluginError: naming the entry point that cannot be imported or is not a model family.
    """
    return load_plugins(group, ModelFamily, "model", family_class_problem)  # type: ignore[type-abstract]


def family_class_problem(name: str | None, cls: type[ModelFamily]) -> str | None:
    """What is wrong with ``cls`` as a model family (registered as ``name``, if it is), or None."""
    if inspect.isabstract(cls):
        return f"{cls.__name__} does not implement build()"
    if name is not None and cls.name != name:
        return f"{cls.__name__}.name is {cls.name!r}, not the entry point's name {name!r}"
    if not isinstance(cls.parameters, Mapping) or not all(isinstance(k, str) for k in cls.parameters):
        return f"{cls.__name__}.parameters must map parameter names to their defaults"
    return None


# Families a caller handed over for a module path (Classifier.load(path, family=Class)): found
# by that path without importing anything.
_GIVEN: dict[str, ModelFamily] = {}


def model_family(name: str) -> ModelFamily:
    """The family called ``name`` (an entry point) or at ``name`` = ``package.module:Class``.

    A module path is imported: call this only for names the user gave (the config, an argument),
    never for one read from a file (see :func:`family_for_file`).

    Raises:
        ConfigError: for an unknown name (listing the installed ones), a path that cannot be
            imported, or a class that is not a model family.
    """
    if name in _GIVEN:
        return _GIVEN[name]
    return _resolve(name)


def family_for_file(name: str, given: str | type[ModelFamily] | ModelFamily | None) -> None:
    """Make the family a model file names (``name``) resolvable without importing what the file
    names: an installed entry point, or the family the caller passed (``given``).

    Raises:
        ConfigError: a module-path family the caller did not pass, or another one than the file's.
    """
    if given is None:
        if ":" in name and name not in _GIVEN:
            msg = (
                f"the model's family {name!r} is a module path, and loading a file imports nothing it names: "
                f"pass the family yourself, e.g. Classifier.load(path, family={name!r}) or family=TheClass"
            )
            raise ConfigError(msg)
        return
    if isinstance(given, str):
        if given != name:
            msg = f"the file holds a model of family {name!r}, not {given!r}"
            raise ConfigError(msg)
        model_family(given)  # named by the caller: importing it is the caller's choice
        return
    instance = given() if isinstance(given, type) else given
    if not isinstance(instance, ModelFamily):
        msg = f"family={given!r} is not a hepopt.models.ModelFamily"
        raise ConfigError(msg)
    if ":" not in name and name != instance.name:
        msg = f"the file holds a model of family {name!r}, not {instance.name!r}"
        raise ConfigError(msg)
    if ":" in name:
        _GIVEN[name] = instance


@cache
def _resolve(name: str) -> ModelFamily:
    if ":" not in name:
        available = load_families()
        if name not in available:
            msg = f"unknown model family {name!r}; installed: {sorted(available)} (or give 'package.module:Class')"
            raise ConfigError(msg)
        return available[name]()
    module_name, _, class_name = name.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as err:
        msg = f"model family {name!r}: cannot import {module_name!r} ({err}); is it installed or on PYTHONPATH?"
        raise ConfigError(msg) from err
    except AttributeError as err:
        msg = f"model family {name!r}: module {module_name!r} has no {class_name!r}"
        raise ConfigError(msg) from err
    if not (isinstance(cls, type) and issubclass(cls, ModelFamily)):
        msg = f"model family {name!r} is not a subclass of hepopt.models.ModelFamily"
        raise ConfigError(msg)
    problem = family_class_problem(None, cls)
    if problem:
        msg = f"model family {name!r}: {problem}"
        raise ConfigError(msg)
    return cls()
