"""A stage: one step of ``hepopt optimize`` (prepare, preoptimize, eliminate, optimize, finetune,
export, or a team's own), with a manifest that lets a rerun skip it.

A stage is a class with one method, :meth:`Stage.run`, which gets a :class:`StageContext` (the
config and the artifacts of the stages before it) and returns its own artifacts: JSON-able values
(paths, numbers, variable lists) that later stages and ``hepopt status`` read. :meth:`Stage.inputs`
names what the stage depends on in the config; together with the keys of the stages before it,
it makes the stage's key. A stage whose manifest says ``done`` with the same key is skipped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from hepopt.objectives import base as objective_base

if TYPE_CHECKING:
    from hepopt.config.schema import HepoptConfig
    from hepopt.data.table import EventTable
    from hepopt.search.identity import StudyKey
    from hepopt.stages.plan import Plan


@dataclass
class StageContext:
    """What a stage gets: the config, the artifacts of the stages before it (by stage name), and
    callbacks for the terminal. ``memory`` holds objects a later stage may reuse in the same run
    (e.g. the event table) so they are not rebuilt; stages must also work without them. ``plan``
    is the config resolved once (:func:`hepopt.stages.plan.make_plan`; made on first use when not
    given)."""

    config: HepoptConfig
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: bool = True
    on_stage: Callable[[str], None] = lambda _name: None
    options: dict[str, Any] = field(default_factory=dict)  # n_trials, trial_callbacks, on_iteration
    memory: dict[str, Any] = field(default_factory=dict)
    force: bool = False  # --force: rerun stages, rebuild the event cache, start searches anew
    keys: dict[str, str] = field(default_factory=dict)  # each stage's key, in run order
    resolved: Plan | None = None

    @property
    def plan(self) -> Plan:
        if self.resolved is None:
            from hepopt.stages.plan import make_plan

            self.resolved = make_plan(self.config)
        return self.resolved

    def upstream_key(self, name: str) -> str:
        """The key of the stage run before ``name`` (it covers the events and everything the
        stages before chose, e.g. the selected variables)."""
        names = list(self.keys)
        index = names.index(name) if name in names else len(names)
        return self.keys[names[index - 1]] if index > 0 else ""

    def study_key(self, name: str) -> StudyKey:
        """The fingerprint of the search a stage ``name`` runs (or reopens)."""
        from hepopt.search.identity import study_key

        return study_key(self.config, self.upstream_key(name))

    def note(self, text: str) -> None:
        """Tell the user something they should know (the terminal, and the log file)."""
        import logging

        logging.getLogger("hepopt").warning(text)
        self.on_stage(f"note:{text}")

    def table(self) -> EventTable:
        """The event table (from the data cache after the prepare stage)."""
        if "table" not in self.memory:
            from hepopt.data.stage import prepare_data

            # --force rebuilds the event cache instead of loading it.
            self.memory["table"] = prepare_data(self.config, progress=self.progress, rebuild=self.force)
        return self.memory["table"]

    def folder(self, name: str) -> Path:
        path = self.config.output_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def model_inputs(config: HepoptConfig) -> dict[str, Any]:
    """What a searching stage's trials depend on in the config (not where they run)."""
    inputs = config.model_dump(
        mode="json",
        include={"seed", "model", "training", "adversary", "objective", "objectives", "constraints", "search"},
    ) | {"split": config.data.split.model_dump(mode="json")}
    for where in ("backend", "workers", "ray_address"):  # where trials run, not what they give
        inputs["search"].pop(where)
    return inputs | {"hepopt_definitions": objective_base.DEFINITIONS}


class Stage(ABC):
    """One step of the pipeline. Subclasses set ``name`` and implement :meth:`run`."""

    name: ClassVar[str]

    def enabled(self, config: HepoptConfig) -> bool:
        """Whether the default stage list includes it (e.g. only with an ``eliminate`` section)."""
        return True

    def inputs(self, config: HepoptConfig) -> Any:
        """What in the config this stage depends on (JSON-able; hashed into its key)."""
        return None

    @abstractmethod
    def run(self, context: StageContext) -> dict[str, Any]:
        """Do the work; return the artifacts (JSON-able)."""
