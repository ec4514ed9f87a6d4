"""An analysis' own coffea processor handing its columns to hepopt.

The analysis keeps its own fileset (its own dataset names, the systematic samples as entries of
their own) and its own processor (selection and variables written with awkward); each output
entry declares which of the config's datasets and variations it holds, so the names need not
match. hepopt then runs its stages on those columns, never reading the files itself.

    python analyses/zprime_ttbar/own_processor.py [--n-trials 4]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from coffea import processor
from coffea.nanoevents import BaseSchema

import hepopt
from hepopt.workflow import columns

HERE = Path(__file__).parent

# The analysis' fileset: its names, and what each is for hepopt (dataset, variation).
SAMPLES = {
    "ZprimeToTT_M2000": ("zprime", "nominal", "nominal/zprime_0.root"),
    "TTToSemiLeptonic_part1": ("ttbar", "nominal", "nominal/ttbar_0.root"),
    "TTToSemiLeptonic_part2": ("ttbar", "nominal", "nominal/ttbar_1.root"),
    "WJetsToLNu": ("wjets", "nominal", "nominal/wjets_0.root"),
    "TTToSemiLeptonic_JESUp_part1": ("ttbar", "jes_up", "jes_up/ttbar_0.root"),
    "TTToSemiLeptonic_JESUp_part2": ("ttbar", "jes_up", "jes_up/ttbar_1.root"),
}


def analysis_fileset(samples: Path) -> dict[str, Any]:
    """coffea's fileset, with hepopt's sample of each entry in its metadata."""
    return {
        name: {"files": {str(samples / path): "Events"}, "metadata": {"hepopt": [dataset, variation]}}
        for name, (dataset, variation, path) in SAMPLES.items()
    }


class AnalysisProcessor(processor.ProcessorABC):  # type: ignore[misc]
    """Its own selection (three jets above 30 GeV) and variables, any naming."""

    def process(self, events: Any) -> dict[str, Any]:
        jets = events.Jet_pt[events.Jet_pt > 30]
        chosen = events[ak.num(jets) >= 3]
        good = chosen.Jet_pt[chosen.Jet_pt > 30]
        variables = {
            "ht": ak.to_numpy(ak.sum(chosen.Jet_pt, axis=1)),
            "lead_jet_pt": ak.to_numpy(good[:, 0]),
            "MET_pt": ak.to_numpy(chosen.MET_pt),
        }
        dataset, variation = events.metadata["hepopt"]
        return {
            events.metadata["dataset"]: columns(
                variables,
                weight=ak.to_numpy(chosen.genWeight),
                event_id=ak.to_numpy(chosen.event),
                sum_weights_before_selection=float(np.sum(ak.to_numpy(events.genWeight), dtype=np.float64)),
                n_read=len(events),
                dataset=dataset,  # the config's dataset and variation these events are
                variation=variation,
            ),
            "cutflow": {events.metadata["dataset"]: len(chosen)},  # the processor's other outputs stay its own
        }

    def postprocess(self, accumulator: Any) -> Any:
        return accumulator


def config(samples: Path, n_trials: int) -> dict[str, Any]:
    """The hepopt config: datasets and variations by role and cross-section; its files are the
    analysis' own (the processor reads them), the features only name the columns."""
    return {
        "name": "own_processor",
        "luminosity": 10_000.0,
        "datasets": {
            "zprime": {"files": str(samples / "nominal/zprime_0.root"), "role": "signal", "cross_section": 1.0, "weight": "genWeight"},
            "ttbar": {"files": str(samples / "nominal/ttbar_*.root"), "role": "background", "cross_section": 831.8, "weight": "genWeight"},
            "wjets": {"files": str(samples / "nominal/wjets_0.root"), "role": "background", "cross_section": 2000.0, "weight": "genWeight"},
        },
        "variations": {"jes_up": {"datasets": {"ttbar": {"files": str(samples / "jes_up/ttbar_*.root")}}}},
        "features": ["ht", "lead_jet_pt", "MET_pt"],
        "data": {"event_id": "event"},
        "search": {"n_trials": n_trials},
        "export": None,
    }  # fmt: skip


def run(samples: Path, output: Path, n_trials: int) -> Any:
    """The analysis' processor over its fileset, then hepopt's stages on its columns."""
    runner = processor.Runner(executor=processor.IterativeExecutor(), schema=BaseSchema, chunksize=20_000)
    out = runner(analysis_fileset(samples), processor_instance=AnalysisProcessor())
    cfg = hepopt.load_config(_write(config(samples, n_trials), output))
    return out, cfg, hepopt.optimize(out, cfg, progress=False)


def _write(raw: dict[str, Any], folder: Path) -> Path:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hepopt_own_processor.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=4)
    args = parser.parse_args()
    _, _, result = run(HERE / "samples", HERE / "results" / "own_processor", args.n_trials)
    print(f"best test {result.objectives[0]}: {result.best.test[0]:.3f}; model in {result.files['best_model']}")


if __name__ == "__main__":
    main()
