"""What the significance objectives cost inside a trial: pyhf's stat-only fit, the closed form,
and the profiled (JES histosys) fit, each as a fraction of one search trial's wall time.

The trial (training + scoring) and the evaluations are measured in this run on the example
analysis at the given scale; best of N.

    python bench/significance.py [--scale 0.25] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from example_analysis import example_config


def best_of(repeats: int, func: object) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from hepopt.config import config_from_dict
    from hepopt.data.stage import prepare_data
    from hepopt.objectives import make_objective
    from hepopt.scoring.trial import TrialRunner, objective_inputs
    from hepopt.training import TrainParams
    from hepopt.training.sets import TrainingSets

    raw, work = example_config("hepopt.yaml", args.scale, "hepopt-bench-significance-")
    config = config_from_dict(raw, work / "hepopt.yaml")
    table = prepare_data(config, progress=False)
    sets = TrainingSets.from_table(table, (0.5, 0.25, 0.25), config.seed)
    objectives = {
        "pyhf stat-only fit": make_objective("asimov_significance", {"bins": 10}),
        "closed form": make_objective("asimov_significance", {"bins": 10, "method": "closed_form"}),
        "pyhf fit with JES profiled (histosys)": make_objective("robust_significance", {"bins": 10}),
    }
    runner = TrialRunner(sets, (make_objective("roc_auc"),), "abs", config.seed)
    params = TrainParams.from_mapping({"n_layers": 3, "units": 64, "max_epochs": 10, "patience": 100})
    outcome = runner.run(params)
    trial_s = best_of(max(1, args.repeats // 2), lambda: runner.run(params))
    inputs = objective_inputs(outcome.classifier, sets, "validation")
    result: dict = {
        "validation_events": len(sets.validation),
        "trial_seconds": round(trial_s, 3),
        "trial": "3x64 MLP, 10 epochs, example analysis",
    }
    for label, objective in objectives.items():
        seconds = best_of(args.repeats, lambda o=objective: o.evaluate(inputs))
        result[label] = {"seconds": round(seconds, 5), "fraction_of_trial": round(seconds / trial_s, 5)}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
