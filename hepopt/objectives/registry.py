"""Objectives found through the ``hepopt.objectives`` entry-point group (built-ins included)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from hepopt.errors import ConfigError
from hepopt.objectives.base import INPUTS, Objective
from hepopt.plugins import load_plugins

GROUP = "hepopt.objectives"


def load_objectives(group: str = GROUP) -> dict[str, type[Objective]]:
    """Every installed objective class by name, each checked to be an :class:`Objective`.

    Raises:
        PluginError: naming the entry point that cannot be imported, is not an Objective, or
            declares itself wrongly (see :func:`objective_class_problem`).
    """
    return load_plugins(group, Objective, "objective", objective_class_problem)  # type: ignore[type-abstract]


def objective_class_problem(name: str, cls: type[Objective]) -> str | None:
    """What is wrong with ``cls`` as the objective registered as ``name``, or None."""
    if inspect.isabstract(cls):
        return f"{cls.__name__} does not implement evaluate()"
    if getattr(cls, "name", None) != name:
        return f"{cls.__name__}.name is {getattr(cls, 'name', None)!r}, not the entry point's name {name!r}"
    if cls.direction not in ("maximize", "minimize"):
        return f"{cls.__name__}.direction must be 'maximize' or 'minimize', got {cls.direction!r}"
    needs = cls.needs
    if not isinstance(needs, frozenset | set) or not needs <= INPUTS:
        return f"{cls.__name__}.needs must be a set of {sorted(INPUTS)}, got {needs!r}"
    return None


def make_objective(
    name: str,
    options: Mapping[str, Any] | None = None,
    available: Mapping[str, type[Objective]] | None = None,
    key: str = "objective",
) -> Objective:
    """Instantiate the objective called ``name`` with the config's options (``key``: where in
    the config they come from, for the error message).

    Raises:
        ConfigError: for an unknown name (listing the installed ones) or options it rejects.
    """
    available = load_objectives() if available is None else available
    if name not in available:
        msg = f"{key}.name: unknown objective '{name}'; installed: {sorted(available)}"
        raise ConfigError(msg)
    try:
        return available[name](**dict(options or {}))
    except (TypeError, ValueError) as err:
        msg = f"{key}.options: {name}: {err}"
        raise ConfigError(msg) from err
