"""The ``prepare`` stage: the coffea data stage, ROOT files -> the cached event table, and the
input variables' distributions for people to look at."""

from __future__ import annotations

from typing import Any

from hepopt.config.schema import HepoptConfig
from hepopt.stages.base import Stage, StageContext


class Prepare(Stage):
    """The coffea data stage: ROOT files -> the cached event table."""

    name = "prepare"

    def inputs(self, config: HepoptConfig) -> Any:
        from hepopt.data.stage import data_key

        # data settings and every input file's path, size and mtime; the plots' style and label
        return [data_key(config), config.plots.model_dump(mode="json"), config.luminosity]

    def run(self, context: StageContext) -> dict[str, Any]:
        from hepopt.data.stage import data_key
        from hepopt.results.inputs import write_input_plots
        from hepopt.results.univariate import write_univariate

        table = context.table()
        folder = context.folder(self.name)
        files = write_univariate(table, folder, context.config.name)
        files |= write_input_plots(table, folder, context.config.name)
        return {
            **{k: str(v) for k, v in files.items()},
            "cache_key": data_key(context.config),
            "fingerprint": table.fingerprint(),
            "events": len(table),
            "variables": list(table.feature_names),
            "datasets": list(table.dataset_names),
            "variations": list(table.variation_names),
        }
