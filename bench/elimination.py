"""Backward elimination by shuffle, retrain and hybrid on the same problem: wall time, the
variables kept, and the final metric of each.

The problem: the example analysis' expression variables plus three pure-noise branches and an
exact duplicate of H_T (``ht_copy``). A good selection drops the noise and one of the two H_T
copies and keeps the metric within tolerance. The metric of each selected set is re-measured on
the test split (which no elimination saw) by a fresh training.

    python bench/elimination.py [--scale 0.25] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

NOISE = {"Noise_0", "Noise_1", "Noise_2"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25, help="sample size relative to the example's")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import numpy as np
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from example_analysis import example_config

    from hepopt.api import eliminate
    from hepopt.config import config_from_dict
    from hepopt.data.stage import prepare_data
    from hepopt.models.params import TrainParams
    from hepopt.objectives import make_objective
    from hepopt.scoring.trial import TrialRunner
    from hepopt.stats.metrics import weighted_roc_auc
    from hepopt.training.sets import TrainingSets

    raw, work = example_config("hepopt_eliminate.yaml", args.scale, "hepopt-elim-bench-")
    raw["model"]["space"] = {"units": 64, "n_layers": 2, "max_epochs": 20, "patience": 4}
    base = {"tolerance": 0.002, "min_variables": 3, "objective": {"name": "roc_auc"}, "shuffle_repeats": 5}
    result: dict = {"scale": args.scale}

    def test_auc(config: object, variables: list[str] | None) -> float:
        """A fresh training on ``variables`` (all when None), its weighted AUC on the test split."""
        sets = TrainingSets.from_table(prepare_data(config, progress=False), (0.5, 0.25, 0.25), config.seed)
        if variables is not None:
            sets = sets.select(variables)
        runner = TrialRunner(sets, (make_objective("roc_auc"),), "abs", config.seed)
        classifier = runner.run(TrainParams.from_mapping(raw["model"]["space"])).classifier
        scores = classifier.predict(sets.test.x * sets.scaler.scale + sets.scaler.mean)
        return weighted_roc_auc(scores, sets.test.labels, np.abs(sets.test.weights))

    for method, extra in (("shuffle", {}), ("retrain", {}), ("hybrid", {"switch_at": 8})):
        raw["eliminate"] = {**base, "method": method, **extra}
        config = config_from_dict(raw, work / method / "hepopt.yaml")
        prepare_data(config, progress=False)  # the data stage stays outside the timing
        start = time.perf_counter()
        selection = eliminate(config, progress=False)
        elapsed = time.perf_counter() - start
        assert selection.result is not None
        if "all_variables_auc_test" not in result:
            result["all_variables_auc_test"] = round(test_auc(config, None), 5)
        dropped_order = [u for it in selection.result.iterations for u in it.dropped]
        result[method] = {
            "seconds": round(elapsed, 1),
            "iterations": len(selection.result.iterations),
            "n_start": len(selection.result.iterations[0].variables),
            "n_selected": len(selection.variables),
            "selected": list(selection.variables),
            "first_dropped": dropped_order[:5],
            "noise_dropped": sorted(NOISE - set(selection.variables)),
            "duplicate_dropped": len({"ht", "ht_copy"} & set(selection.variables)) < 2,
            "baseline_auc_validation": round(selection.result.baseline, 5),
            "selected_auc_validation": round(selection.result.selected_metric, 5),
            "selected_auc_test": round(test_auc(config, list(selection.variables)), 5),
        }
        print(json.dumps({method: result[method]}), flush=True)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
