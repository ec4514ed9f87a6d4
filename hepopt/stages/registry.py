"""Stages by name: hepopt's own and any an analysis team registers under the ``hepopt.stages``
entry-point group (``my_stage = "my_pkg.stages:MyStage"``)."""

from __future__ import annotations

from hepopt.config.schema import HepoptConfig
from hepopt.errors import ConfigError
from hepopt.plugins import load_plugins
from hepopt.stages.base import Stage

GROUP = "hepopt.stages"
DEFAULT_ORDER = ("prepare", "preoptimize", "eliminate", "optimize", "finetune", "export")


def load_stages() -> dict[str, type[Stage]]:
    """Every installed stage class by name.

    Raises:
        PluginError: an entry point that does not load or is not a :class:`Stage`.
    """
    return load_plugins(GROUP, Stage, "stage")  # type: ignore[type-abstract]


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
