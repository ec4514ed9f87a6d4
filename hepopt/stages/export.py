"""The ``export`` stage: the best model as TorchScript and ONNX, with a JSON description of where
it comes from (trial, objectives on validation and test, the events it was trained on)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hepopt.config.schema import HepoptConfig
from hepopt.stages.base import Stage, StageContext


class Export(Stage):
    """The best model as TorchScript and ONNX with a JSON description."""

    name = "export"

    def enabled(self, config: HepoptConfig) -> bool:
        return config.export is not None and bool(config.export.formats)

    def inputs(self, config: HepoptConfig) -> Any:
        return config.model_dump(mode="json", include={"export"})

    def run(self, context: StageContext) -> dict[str, Any]:
        from hepopt.results.export import export_classifier
        from hepopt.runtime.extras import has_extra
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
            "inputs": model_inputs(config),  # how each variable is computed: the model describes itself
        }
        formats = list(config.export.formats) if config.export else []
        if "onnx" in formats and not has_extra("export"):
            # The default formats name ONNX; without the extra it is left out, and model.json says so.
            formats.remove("onnx")
            metadata["skipped"] = {"onnx": "onnxscript is not installed: pip install 'hepopt[export]'"}
        files = export_classifier(
            Classifier.load(Path(optimized["best_model"]), family=config.model.family),
            context.folder("export"),
            formats=formats,
            metadata=metadata,
        )
        return {kind: str(path) for kind, path in files.items()}


def model_inputs(config: Any) -> dict[str, Any]:
    """How the exported model's inputs are made from events: each variable's expression (a
    callable's variables are named by the callable), the selection, the schema, the event id and
    the split the model was trained on."""
    expressions, callables = {}, []
    for kind, text in config.feature_entries():
        if kind == "callable":
            callables.append(text)
        else:
            expressions[kind.removeprefix("expr:")] = text
    return {
        "expressions": expressions,
        "callables": callables,
        "selection": config.selection,
        "schema": config.data.schema_,
        "event_id": config.data.event_id,
        "split": config.data.split.rule().describe(config.data.split.column),
    }
