"""The public entry points: :func:`optimize` (every stage) and :func:`eliminate` (up to the
variable selection), from a config file or object, or inside a coffea workflow."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepopt.config.schema import HepoptConfig
from hepopt.results.summary import OptimizeResult, TrialSummary
from hepopt.runtime.caller_state import caller_state_kept

if TYPE_CHECKING:
    from hepopt.elimination.backward import Iteration
    from hepopt.elimination.selection import Selection
    from hepopt.search.execution import TrialCallback
    from hepopt.stages.base import Stage, StageContext

__all__ = ["OptimizeResult", "StageCallback", "TrialSummary", "eliminate", "optimize"]

StageCallback = Callable[[str], None]


@caller_state_kept()
def optimize(
    config: HepoptConfig | str | Path | dict[str, Any],
    coffea_config: HepoptConfig | str | Path | None = None,
    *,
    progress: bool = True,
    n_trials: int | None = None,
    trial_callbacks: list[TrialCallback] | None = None,
    on_stage: StageCallback | None = None,
    on_iteration: Callable[[Iteration], None] | None = None,
    force: bool = False,
) -> OptimizeResult | None:
    """Run the stages of ``config`` (prepare -> [preoptimize -> eliminate] -> optimize ->
    [finetune] -> export by default) and write their results under ``config.output_dir``.

    Inside a coffea workflow, ``optimize(out, config)`` takes the output of
    :func:`hepopt.workflow.feature_processor` run by the analysis' own Runner instead of reading
    the files again (the prepare stage's key then includes the fingerprint of those events).

    A stage whose inputs did not change since it last finished is skipped (``force`` reruns it,
    reading the files again and starting the searches anew); the search resumes its study, so only
    missing trials run, unless the study was made with other search inputs (it is then kept under
    another name and a new one starts). Returns the optimize stage's result (None when the stage
    list has no optimize stage). What the run changes in this process (torch threads, environment,
    a local Ray it started, matplotlib settings) is restored when it returns.

    Raises:
        HepoptError: bad config, unreadable data, or no trial that completed.
    """
    from hepopt.config.loader import load_config
    from hepopt.stages import run_stages, stage_list

    output = None
    if coffea_config is not None:
        output, config = config, coffea_config
    if not isinstance(config, HepoptConfig):
        config = load_config(config)  # type: ignore[arg-type]
    if n_trials is not None:  # part of the optimize stage's inputs, as if written in the config
        config = config.model_copy(update={"search": config.search.model_copy(update={"n_trials": n_trials})})
    stages = stage_list(config)
    options: dict[str, Any] = {"trial_callbacks": trial_callbacks, "on_iteration": on_iteration}
    context = _context(config, stages, progress, on_stage, options)
    if output is not None:
        from hepopt.workflow import table_from_output

        table = table_from_output(config, output)  # type: ignore[arg-type]
        context.memory["table"] = table
        options["inputs"] = {"prepare": table.fingerprint()}
    run_stages(context, stages, force=force)
    if "result" in context.memory:
        return context.memory["result"]
    if "optimize" in context.artifacts:  # skipped: what it wrote last time
        summary = json.loads(Path(context.artifacts["optimize"]["summary"]).read_text())
        return replace(OptimizeResult.from_dict(summary), family=config.model.family)
    return None


@caller_state_kept()
def eliminate(
    config: HepoptConfig | str | Path,
    *,
    progress: bool = True,
    on_stage: StageCallback | None = None,
    on_iteration: Callable[[Iteration], None] | None = None,
    force: bool = False,
) -> Selection:
    """``hepopt eliminate``: the prepare, [preoptimize] and eliminate stages (with the
    ``eliminate`` section's defaults when the config has none). Like :func:`optimize`, it gives
    back what it changed in this process."""
    from hepopt.config.loader import load_config
    from hepopt.config.schema import EliminateConfig
    from hepopt.elimination.selection import Selection
    from hepopt.stages import run_stages
    from hepopt.stages.eliminate import Eliminate, Preoptimize
    from hepopt.stages.prepare import Prepare

    if not isinstance(config, HepoptConfig):
        config = load_config(config)
    if config.eliminate is None:
        config = config.model_copy(update={"eliminate": EliminateConfig()})
    stages: list[Stage] = [s for s in (Prepare(), Preoptimize(), Eliminate()) if s.enabled(config)]
    context = _context(config, stages, progress, on_stage, {"on_iteration": on_iteration})
    run_stages(context, stages, force=force)
    if "selection" in context.memory:
        return context.memory["selection"]
    artifacts = context.artifacts["eliminate"]
    return Selection(tuple(artifacts["variables"]), None, {"selection": Path(artifacts["selection"])})


def _context(
    config: HepoptConfig,
    stages: list[Stage],
    progress: bool,
    on_stage: StageCallback | None,
    options: dict[str, Any],
) -> StageContext:
    """The stages' context, with the config resolved once (mistakes found before any data is read)."""
    from hepopt.stages import StageContext
    from hepopt.stages.plan import make_plan

    plan = make_plan(config, tuple(stage.name for stage in stages))
    return StageContext(
        config, progress=progress, on_stage=on_stage or (lambda _name: None), options=options, resolved=plan
    )


def workspace(
    config: HepoptConfig | str | Path,
    *,
    output: str | Path | None = None,
    split: str = "test",
    mc_stat: bool = True,
) -> Path:
    """Write the pyhf workspace of a finished run's best model: the classifier output on ``split``
    (scaled to the full luminosity), one sample per dataset with ``mu`` on the signal ones, a
    histosys per systematic, and with ``mc_stat`` a staterror per bin, with the binning, merge rule
    and template treatment of the config's ``robust_significance`` objective when it has one
    (else 10 equal bins). Observations are the Asimov data of the nominal prediction; ``pyhf fit``
    and ``pyhf cls`` read the file. Default output: ``<output>/optimize/workspace.json``.

    Raises:
        StateError: the run has no best model, or its optimize stage is not up to date with the
            config (its model would not be this config's: run ``hepopt optimize`` first).
    """
    from hepopt.data.stage import prepare_data
    from hepopt.errors import StateError
    from hepopt.objectives.robust import RobustSignificance
    from hepopt.results.artifacts import write_json
    from hepopt.scoring.trial import objective_inputs
    from hepopt.stages import stage_list
    from hepopt.stages import status as stage_status
    from hepopt.stages.plan import make_plan
    from hepopt.training.classifier import Classifier

    plan = make_plan(config)
    cfg = plan.config
    best = cfg.search_dir / "best_model.pt"
    optimized = next((s for s in stage_status(cfg, stage_list(cfg)) if s.name == "optimize"), None)
    if not best.is_file() or optimized is None or not optimized.up_to_date:
        state = "no best model" if not best.is_file() else "the optimize stage is not up to date with the config"
        msg = f"{best}: {state}; run 'hepopt optimize {cfg.source}' first"
        raise StateError(msg)
    if split not in ("train", "validation", "test"):
        msg = f"split must be train, validation or test, got {split!r}"
        raise ValueError(msg)
    classifier = Classifier.load(best, family=cfg.model.family)
    sets = plan.training_sets(prepare_data(cfg, progress=False)).select(classifier.feature_names)
    options = next((dict(o.options) for o in cfg.objective_configs() if o.name == "robust_significance"), {})
    objective = RobustSignificance(**(options | {"mc_stat": mc_stat}))
    spec = objective.workspace(objective_inputs(classifier, sets, split), measurement=f"{cfg.name}_{split}")
    path = Path(output) if output is not None else cfg.search_dir / "workspace.json"
    write_json(path, spec)
    return path


def check(config: str | Path) -> tuple[HepoptConfig, list[Any]]:
    """Validate ``config`` and its inputs without running anything (``hepopt check``): the config,
    the objectives', constraints' and ``adversary.keep_by``'s options (as a run checks them, see
    :func:`hepopt.stages.plan.checked_objectives`), every input file's tree and the branches the
    expressions read. Returns the config and a :class:`hepopt.data.check.SampleCheck` per sample.

    Raises:
        HepoptError: the first problem, in one line naming the key, file, tree or branch.
    """
    from hepopt.config.loader import load_config
    from hepopt.data.check import check_inputs
    from hepopt.stages.plan import checked_objectives

    cfg = load_config(config)
    checked_objectives(cfg)
    return cfg, check_inputs(cfg)


def init(inputs: list[str | Path], output: str | Path = "hepopt.yaml", tree: str | None = None) -> Path:
    """Write a starting config (``hepopt init``) from ROOT files (one dataset each) or a coffea
    fileset (``.json``/``.yaml``: the config points to it); branches are read from the first file.

    Raises:
        DataError: a file that does not open, or whose tree is ambiguous (give ``tree``).
        ConfigError: the fileset is unreadable or empty, or ``output`` exists.
    """
    from hepopt.config.fileset import FilesetError, merge_fileset
    from hepopt.data.scaffold import SIGNAL_NAMES, config_text, datasets_from_files, read_branches
    from hepopt.errors import ConfigError

    out = Path(output)
    if out.exists():
        msg = f"{out}: exists; choose another --output or remove it"
        raise ConfigError(msg)
    paths = [Path(p) for p in inputs]
    if len(paths) == 1 and paths[0].suffix in (".json", ".yaml", ".yml"):
        fileset_path = paths[0]
        try:
            merged = merge_fileset({"fileset": str(fileset_path.resolve())}, out.parent)
        except FilesetError as err:
            raise ConfigError(str(err)) from None
        if not merged["datasets"]:
            msg = f"fileset {fileset_path}: no simulated dataset in it"
            raise ConfigError(msg)
        first = next(iter(merged["datasets"].values()))
        branches = read_branches(Path(first["files"][0]), tree or first.get("tree"))
        datasets = {}
        for name, settings in merged["datasets"].items():
            extra: dict[str, Any] = (
                {} if "role" in settings else {"role": "signal" if SIGNAL_NAMES.search(name) else "background"}
            )
            if "weight" not in settings and branches.weight is not None:
                extra["weight"] = branches.weight
            datasets[name] = extra or {"role": settings["role"]}
        location = os.path.relpath(fileset_path.resolve(), out.parent.resolve())
        has_xsec = any("cross_section" in s for s in merged["datasets"].values())
        text = config_text(datasets, branches, fileset=location, cross_sections=has_xsec)
    else:
        branches = read_branches(paths[0], tree)
        text = config_text(datasets_from_files(paths, branches, out.parent), branches)
    out.write_text(text)
    return out
