"""The README's example, end to end: ``hepopt optimize analyses/zprime_ttbar/hepopt.yaml`` from
scratch (samples written first if absent), in a fresh output folder.

The baseline is the search's own trials: the time spent in them (sum of trial durations from the
study) against the wall time of the whole command, so the overhead of everything else (data
stage, baseline network, plots, report tables, export) shows as a fraction.

    python bench/example_end_to_end.py [--trials 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ANALYSIS = Path(__file__).resolve().parents[1] / "analyses" / "zprime_ttbar"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    result: dict = {"trials": args.trials}
    if not (ANALYSIS / "samples" / "nominal").is_dir():
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ANALYSIS / "make_samples.py")], check=True)
        result["make_samples_s"] = round(time.perf_counter() - start, 1)
    work = Path(tempfile.mkdtemp(prefix="hepopt-bench-e2e-"))
    raw = yaml.safe_load((ANALYSIS / "hepopt.yaml").read_text())
    raw = json.loads(json.dumps(raw).replace("samples/", f"{ANALYSIS / 'samples'}/"))
    raw["output"] = str(work / "results")
    config = work / "hepopt.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    shutil.copy(ANALYSIS / "features.py", work / "features.py")  # the example's feature callable

    start = time.perf_counter()
    command = [sys.executable, "-m", "hepopt.cli", "optimize", str(config), "--n-trials", str(args.trials), "--quiet"]
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=raw["name"], storage=f"sqlite:///{work / 'results' / 'optimize' / 'study.db'}")
    in_trials = sum(t.duration.total_seconds() for t in study.trials if t.duration is not None)
    summary = json.loads((work / "results" / "optimize" / "summary.json").read_text())
    stages = {
        p.parent.name: json.loads(p.read_text()).get("seconds")
        for p in sorted((work / "results").glob("*/manifest.json"))
    }
    result.update(
        {
            "wall_s": round(wall, 1),
            "in_trials_s": round(in_trials, 1),
            "trials_over_wall": round(in_trials / wall, 3),
            "stage_seconds": stages,
            "best_test_significance": round(summary["best"]["test"][0], 3),
            "baseline_test_significance": round(summary["baseline"]["test"][0], 3),
        }
    )
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
