"""Stages by name: hepopt's own and any an analysis team registers under the ``hepopt.stages``
entry-point group (``my_stage = "my_pkg.stages:MyStage"``)."""

from __future__ import annotations

import importlib.metadata

from hepopt.config.schema import HepoptConfig
from hepopt.errors import ConfigError, PluginError
from hepopt.stages.base import Stage

GROUP = "hepopt.stages"
DEFAULT_ORDER = ("prepare", "preoptimize", "eliminate", "optimize", "finetune", "export")


def load_stages() -> dict[str, type[Stage]]:
    """Every installed stage class by name.

    Raises:
        PluginError: an entry point that does not load or is not a :class:`Stage`.
    """
    found: dict[str, type[Stage]] = {}
    for entry in importlib.metadata.entry_points(group=GROUP):
        try:
            cls = entry.load()
        except Exception as err:
            msg = f"stage plugin '{entry.name}' ({entry.value}) failed to load: {type(err).__name__}: {err}"
            raise PluginError(msg) from err
        if not (isinstance(cls, type) and issubclass(cls, Stage)):
            msg = f"stage plugin '{entry.name}' ({entry.value}) is not a hepopt.stages.Stage subclass"
            raise PluginError(msg)
        found[entry.name] = cls
    return found


def stage_list(config: HepoptConfig) -> list[Stage]:
    """The stages to run, in order: ``stages:`` from the config, else hepopt's own that apply.

    Raises:
        ConfigError: an unknown stage name (the installed ones are listed).
    """
    known = load_stages()
    if config.stages is None:
        stages = [known[name]() for name in DEFAULT_ORDER if name in known]
        return [stage for stage in stages if stage.enabled(config)]
    chosen = []
    for i, name in enumerate(config.stages):
        if name not in known:
            msg = f"{config.source}: stages.{i}: unknown stage '{name}'; installed: {sorted(known)}"
            raise ConfigError(msg)
        chosen.append(known[name]())
    return chosen
