"""The ``finetune`` stage: population-based training (Ray Tune PBT) from the best trials of the
search; its result is added to the optimize stage's summary."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from hepopt.config.schema import HepoptConfig
from hepopt.stages.base import Stage, StageContext


class Finetune(Stage):
    """Population-based training (Ray Tune PBT) from the best trials of the search."""

    name = "finetune"

    def enabled(self, config: HepoptConfig) -> bool:
        return config.finetune is not None

    def inputs(self, config: HepoptConfig) -> Any:
        return config.model_dump(mode="json", include={"finetune"})

    def run(self, context: StageContext) -> dict[str, Any]:
        from hepopt.search.finetune import finetune
        from hepopt.search.study import open_study

        config = context.config
        variables = context.artifacts.get("eliminate", {}).get("variables")
        plan = context.plan
        space, runner = context.memory.get("search") or (plan.space, plan.search_runner(context.table(), variables))
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
