"""hepopt's own stages: prepare -> preoptimize -> eliminate -> optimize -> finetune -> export.

Each works from the artifacts of the stages before it (paths, variable lists, parameters), so any
of them can run after the others were skipped; objects already in memory are reused when there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from hepopt.config.schema import HepoptConfig
from hepopt.stages.base import Stage, StageContext


def _model_inputs(config: HepoptConfig) -> dict[str, Any]:
    inputs = config.model_dump(
        mode="json",
        include={"seed", "model", "training", "adversary", "objective", "objectives", "constraints", "search"},
    ) | {"split": config.data.split.model_dump(mode="json")}
    for where in ("backend", "workers", "ray_address"):  # where trials run, not what they give
        inputs["search"].pop(where)
    return inputs


class Prepare(Stage):
    """The coffea data stage: ROOT files -> the cached event table."""

    name = "prepare"

    def inputs(self, config: HepoptConfig) -> Any:
        from hepopt.data.stage import data_key

        return data_key(config)  # data settings and every input file's path, size and mtime

    def run(self, context: StageContext) -> dict[str, Any]:
        from hepopt.data.stage import data_key
        from hepopt.results.univariate import write_univariate

        table = context.table()
        files = write_univariate(table, context.folder(self.name), context.config.name)
        return {
            **{k: str(v) for k, v in files.items()},
            "cache_key": data_key(context.config),
            "fingerprint": table.fingerprint(),
            "events": len(table),
            "variables": list(table.feature_names),
            "datasets": list(table.dataset_names),
            "variations": list(table.variation_names),
        }


class Preoptimize(Stage):
    """A short search with every variable, to train the elimination with good settings."""

    name = "preoptimize"

    def enabled(self, config: HepoptConfig) -> bool:
        return config.eliminate is not None and config.eliminate.pre_optimize_trials > 0

    def inputs(self, config: HepoptConfig) -> Any:
        trials = config.eliminate.pre_optimize_trials if config.eliminate else 0
        inputs = _model_inputs(config)
        inputs["search"].pop("n_trials")  # the search's, not this one's (``trials``)
        return inputs | {"trials": trials}

    def run(self, context: StageContext) -> dict[str, Any]:
        from hepopt.elimination.stage import pre_optimize

        params, folder, note = pre_optimize(
            context.config, context.table(), key=context.study_key(self.name), fresh=context.force
        )
        if note:
            context.note(note)
        return {"params": params, "folder": str(folder)}


class Eliminate(Stage):
    """Backward elimination of the input variables."""

    name = "eliminate"

    def enabled(self, config: HepoptConfig) -> bool:
        return config.eliminate is not None

    def inputs(self, config: HepoptConfig) -> Any:
        # The prepare key before it covers the events; the objective is eliminate's or the
        # search's; the search's own settings (trials, sampler) do not matter here.
        include = {"seed", "model", "training", "adversary", "objective", "objectives", "eliminate"}
        return config.model_dump(mode="json", include=include) | {"split": config.data.split.model_dump(mode="json")}

    def run(self, context: StageContext) -> dict[str, Any]:
        from hepopt.pipeline import select_variables

        preoptimized = context.artifacts.get("preoptimize", {}).get("params")
        selection = select_variables(
            context.config, context.table(), context.on_stage, context.options.get("on_iteration"), preoptimized
        )
        context.memory["selection"] = selection
        return {
            "variables": list(selection.variables),
            "selection": str(selection.files["selection"]),
            "reused": selection.result is None,
        }


class Optimize(Stage):
    """The hyperparameter search on the selected variables, its tables, plots and best model."""

    name = "optimize"

    def inputs(self, config: HepoptConfig) -> Any:
        return _model_inputs(config)

    def run(self, context: StageContext) -> dict[str, Any]:
        from hepopt.pipeline import run_optimization

        variables = context.artifacts.get("eliminate", {}).get("variables")
        result = run_optimization(
            context.config, context.table(), variables, context.options.get("trial_callbacks"), context
        )
        context.memory["result"] = result
        return {
            "summary": str(result.files["summary"]),
            "best_model": str(result.files["best_model"]),
            "best_trial": result.best.number,
            "validation": result.best.validation,
            "test": result.best.test,
            "variables": variables,
            "trials_complete": result.n_complete,
        }


class Finetune(Stage):
    """Population-based training (Ray Tune PBT) from the best trials of the search."""

    name = "finetune"

    def enabled(self, config: HepoptConfig) -> bool:
        return config.finetune is not None

    def inputs(self, config: HepoptConfig) -> Any:
        return config.model_dump(mode="json", include={"finetune"})

    def run(self, context: StageContext) -> dict[str, Any]:
        from hepopt.pipeline import search_objects
        from hepopt.search.finetune import finetune
        from hepopt.search.study import open_study

        config = context.config
        variables = context.artifacts.get("eliminate", {}).get("variables")
        space, runner = context.memory.get("search") or search_objects(config, context.table(), variables)
        study = open_study(config, runner.directions, space=space, key=context.study_key("optimize"))
        result = asdict(finetune(config, space, runner, study))
        result["model_path"] = str(result["model_path"])
        (context.folder("finetune") / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
        summary_path = Path(context.artifacts["optimize"]["summary"])
        summary = json.loads(summary_path.read_text())
        summary["finetune"] = result  # the optimize summary tells the whole story
        summary_path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        if "result" in context.memory:
            context.memory["result"] = replace(context.memory["result"], finetune=result)
        return result


class Export(Stage):
    """The best model as TorchScript and ONNX with a JSON description."""

    name = "export"

    def enabled(self, config: HepoptConfig) -> bool:
        return config.export is not None and bool(config.export.formats)

    def inputs(self, config: HepoptConfig) -> Any:
        return config.model_dump(mode="json", include={"export"})

    def run(self, context: StageContext) -> dict[str, Any]:
        from hepopt.export import export_classifier
        from hepopt.training.classifier import Classifier

        config = context.config
        optimized = context.artifacts["optimize"]
        summary = json.loads(Path(optimized["summary"]).read_text())
        metadata = {
            "analysis": config.name,
            "trial": summary["best"]["number"],
            "objectives": [
                {"name": name, "direction": direction, "validation": v, "test": t}
                for name, direction, v, t in zip(
                    summary["objectives"],
                    summary["directions"],
                    summary["best"]["validation"],
                    summary["best"]["test"],
                    strict=True,
                )
            ],
            "data_fingerprint": context.artifacts.get("prepare", {}).get("fingerprint"),
            "model_from": summary.get("model_from", ""),  # which events it was trained on, how chosen
        }
        formats = config.export.formats if config.export else []
        files = export_classifier(
            Classifier.load(Path(optimized["best_model"]), family=config.model.family),
            context.folder("export"),
            formats=formats,
            metadata=metadata,
        )
        return {kind: str(path) for kind, path in files.items()}
