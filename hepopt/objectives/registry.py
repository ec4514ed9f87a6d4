"""Objectives found through the ``hepopt.objectives`` entry-point group (built-ins included)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hepopt.errors import ConfigError
from hepopt.objectives.base import Objective
from hepopt.plugins import load_plugins

GROUP = "hepopt.objectives"


def load_objectives(group: str = GROUP) -> dict[str, type[Objective]]:
    """Every installed objective class by name, each checked to be an :class:`Objective`.

    Raises:
        PluginError: naming the entry point that cannot be imported or is not an Objective.
    """
    return load_plugins(group, Objective, "objective")


def make_objective(
    name: str, options: Mapping[str, Any] | None = None, available: Mapping[str, type[Objective]] | None = None
) -> Objective:
    """Instantiate the objective called ``name`` with the config's options.

    Raises:
        ConfigError: for an unknown name (listing the installed ones) or options it rejects.
    """
    available = load_objectives() if available is None else available
    if name not in available:
        msg = f"objective.name: unknown objective '{name}'; installed: {sorted(available)}"
        raise ConfigError(msg)
    try:
        return available[name](**dict(options or {}))
    except (TypeError, ValueError) as err:
        msg = f"objective.options: {name}: {err}"
        raise ConfigError(msg) from err
