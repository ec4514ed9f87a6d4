"""Objectives found through the ``hepopt.objectives`` entry-point group (built-ins included)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

from hepopt.errors import ConfigError, PluginError
from hepopt.objectives.base import Objective

GROUP = "hepopt.objectives"


def load_objectives(group: str = GROUP) -> dict[str, type[Objective]]:
    """Every installed objective class by name, each checked to be an :class:`Objective`.

    Raises:
        PluginError: naming the entry point that cannot be imported or is not an Objective.
    """
    found: dict[str, type[Objective]] = {}
    for ep in importlib.metadata.entry_points(group=group):
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            obj = ep.load()
        except Exception as err:
            msg = f"objective plugin {ep.name!r} = {ep.value!r} (from {dist}) cannot be imported: {err}"
            raise PluginError(msg) from err
        if not (isinstance(obj, type) and issubclass(obj, Objective)):
            msg = f"objective plugin {ep.name!r} = {ep.value!r} (from {dist}) is not an Objective subclass"
            raise PluginError(msg)
        found[ep.name] = obj
    return found


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
