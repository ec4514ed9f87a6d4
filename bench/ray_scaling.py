"""Trials per minute on Ray with 1 and 2 workers, and what starting the workers costs.

Runs the same fixed trials (the example analysis, small networks, a fixed number of epochs) with
one worker and with two, each on a fresh local Ray, interleaved ``--repeats`` times (best of
each), and prints the scaling ratio (target >= 1.6 with 2 workers on 2 cores) in the steady state
(after every worker finished its first trial) and with the workers' start-up included. Ray's own
start-up is outside the timed region; the data shipping (``ray.put`` plus a worker deserialising
it once) is timed on its own.

    python bench/ray_scaling.py [--trials 16] [--repeats 3] [--scale 1.0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def steady_rate(study: object, workers: int) -> float:
    """Trials per minute once every worker has finished a trial (worker start-up excluded)."""
    ends = sorted(t.datetime_complete for t in study.trials)  # type: ignore[attr-defined]
    return 60 * (len(ends) - workers) / (ends[-1] - ends[workers - 1]).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="sample size relative to the example's")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from example_analysis import example_config

    from hepopt.config import config_from_dict
    from hepopt.data.stage import prepare_data
    from hepopt.objectives import make_objective
    from hepopt.scoring.trial import TrialRunner
    from hepopt.search.space import SearchSpace
    from hepopt.search.study import run_search
    from hepopt.training.sets import TrainingSets

    raw, work = example_config("hepopt.yaml", args.scale, "hepopt-ray-bench-")
    # Fixed work per trial: the same small network for a fixed number of epochs.
    raw["model"]["space"] = {
        "units": {"type": "categorical", "choices": [32]},
        "n_layers": 2,
        "max_epochs": 6,
        "patience": 100,
    }
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    result: dict = {}
    for repeat in range(args.repeats):
        for workers in (1, 2):
            raw["search"] = {"backend": "ray", "workers": workers, "sampler": "random"}
            raw["name"] = f"bench_w{workers}_r{repeat}"
            config = config_from_dict(raw, work / f"w{workers}" / "hepopt.yaml")
            table = prepare_data(config, progress=False)
            sets = TrainingSets.from_table(table, (0.5, 0.25, 0.25), config.seed)
            runner = TrialRunner(sets, (make_objective("asimov_significance"),), "abs", config.seed)
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
            start = time.perf_counter()
            ref = ray.put(runner)
            probe = ray.remote(lambda r: len(r.sets.train))
            ray.get(probe.remote(ref))
            shipping = time.perf_counter() - start
            start, cpu = time.perf_counter(), time.process_time()
            outcome = run_search(config, SearchSpace.from_config(config.model), runner, n_trials=args.trials)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            ray.shutdown()
            key = f"workers_{workers}"
            if key not in result or steady_rate(outcome.study, workers) > result[key]["steady_trials_per_minute"]:
                result[key] = {
                    "trials_per_minute": round(60 * args.trials / elapsed, 2),
                    "seconds": round(elapsed, 2),
                    "steady_trials_per_minute": round(steady_rate(outcome.study, workers), 2),
                    "driver_cpu_s_per_trial": round(cpu / args.trials, 3),
                    "data_shipping_s": round(shipping, 3),
                    "train_events": len(sets.train),
                }
    w1, w2 = result["workers_1"], result["workers_2"]
    # Steady state is what a long study sees; the total adds the workers' start-up (process,
    # imports, data) once per study, which weighs heavily on a benchmark of sub-second trials.
    result["scaling_ratio_2_over_1"] = round(w2["steady_trials_per_minute"] / w1["steady_trials_per_minute"], 3)
    result["scaling_ratio_2_over_1_with_startup"] = round(w2["trials_per_minute"] / w1["trials_per_minute"], 3)
    result["startup_s"] = {
        key: round(r["seconds"] - 60 * args.trials / r["steady_trials_per_minute"], 2)
        for key, r in (("workers_1", w1), ("workers_2", w2))
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
