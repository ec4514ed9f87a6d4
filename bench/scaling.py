"""How hepopt's cost grows with the number of events (10^4 -> 10^6) and of input variables
(10 -> 50): preparing the training sets, one training epoch, scoring, and peak memory.

Each size runs in its own process, so each peak RSS is its own; the baseline of every row is the
raw float32 feature matrix it holds (bytes) and the smallest size (time per event).

    python bench/scaling.py [--events 10000 100000 1000000] [--variables 10 20 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
n, f = int(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from trainer import toy_table
from hepopt.objectives import make_objective
from hepopt.scoring.trial import objective_inputs
from hepopt.training import TrainParams, train_classifier
from hepopt.training.classifier import Classifier
from hepopt.training.sets import TrainingSets
table = toy_table(n, f)
start = time.perf_counter()
sets = TrainingSets.from_table(table, (0.6, 0.2, 0.2), seed=1)
prepare = time.perf_counter() - start
params = TrainParams.from_mapping(dict(n_layers=3, units=64, batch_size=512, max_epochs=1, patience=10))
train, val = sets.train.batchable(1.0, "abs"), sets.validation.batchable(1.0, "abs")
objective = make_objective("asimov_significance")
trained = train_classifier(params, train, val, seed=0)  # warm-up: torch and pyhf start-up are not per-event costs
classifier = Classifier(trained.model, sets.scaler, sets.feature_names, params)
objective.evaluate(objective_inputs(classifier, sets, "validation"))
start = time.perf_counter()
trained = train_classifier(params, train, val, seed=1)
epoch = time.perf_counter() - start
classifier = Classifier(trained.model, sets.scaler, sets.feature_names, params)
start = time.perf_counter()
objective.evaluate(objective_inputs(classifier, sets, "validation"))
score = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"events": n, "variables": f, "prepare_s": prepare, "epoch_s": epoch, "score_s": score,
                  "peak_rss_bytes": peak, "raw_feature_bytes": n * f * 4}))
"""


def run(n: int, f: int) -> dict:
    bench = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(f), bench], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--variables", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    rows = []
    sizes = [(n, 20) for n in args.events] + [(max(args.events), f) for f in args.variables if f != 20]
    for n, f in sizes:
        row = run(n, f)
        row["epoch_us_per_event"] = 1e6 * row["epoch_s"] / (0.6 * n)
        row["peak_rss_gb"] = row["peak_rss_bytes"] / 1e9
        row["peak_over_raw_features"] = row["peak_rss_bytes"] / row["raw_feature_bytes"]
        rows.append(row)
        print(
            f"{n:>9,} events x {f:>2} variables: prepare {row['prepare_s']:6.2f} s, epoch {row['epoch_s']:6.2f} s "
            f"({row['epoch_us_per_event']:.2f} us/event), score {row['score_s']:5.2f} s, peak {row['peak_rss_gb']:.2f} GB",
            flush=True,
        )
    smallest = rows[0]
    for row in rows:
        row["epoch_time_per_event_vs_smallest"] = row["epoch_us_per_event"] / smallest["epoch_us_per_event"]
    result = {"rows": rows, "largest_peak_rss_gb": max(r["peak_rss_gb"] for r in rows)}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
