"""Every benchmark in one command: runs each script in its own process, then writes
``bench/results/latest.json`` (everything each printed) and ``bench/results/latest.md`` (the
headline figures, each a ratio against a baseline measured in the same run).

    python bench/run_all.py            # full sizes (about 20 minutes on 2 cores)
    python bench/run_all.py --quick    # small sizes, a few minutes: checks that everything runs
    python bench/run_all.py --only trainer scaling
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# name -> (arguments at full size, arguments with --quick)
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "trainer": ([], ["--events", "20000", "--repeats", "2"]),
    "data_stage": ([], ["--scale", "0.25"]),
    "significance": (["--scale", "0.5"], ["--scale", "0.1", "--repeats", "3"]),
    "scaling": ([], ["--events", "10000", "100000", "--variables", "10", "50"]),
    "ray_scaling": (["--trials", "16", "--repeats", "2"], ["--trials", "6", "--repeats", "1", "--scale", "0.1"]),
    "elimination": ([], ["--scale", "0.05"]),
    "example_end_to_end": ([], ["--trials", "3"]),
    "busy_machine": (["--trials", "6", "--scale", "0.25"], ["--trials", "4", "--scale", "0.1"]),
    "inference_aware": ([], ["--repeats", "5", "--rounds", "2", "--events", "10000"]),
}


def headlines(name: str, r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, baseline) rows for the Markdown table."""
    rows: dict[str, Callable[[], list[tuple[str, str, str]]]] = {
        "trainer": lambda: [
            ("trainer ÷ bare torch loop, events/s per epoch (target ≥ 0.9)", f"{r['ratio_hepopt_over_bare']:.2f}",
             f"{r['bare_torch_events_per_s']:,} events/s by hand; hepopt {r['hepopt_events_per_s']:,}"),
            ("per-trial set-up + scoring", f"{r['trial_setup_and_scoring_s']:.3f} s", "intercept of trial time vs. epochs"),
        ],
        "data_stage": lambda: [
            ("data stage ÷ bare uproot, speed", f"{r['speed_ratio_hepopt_over_uproot']:.2f}",
             f"{r['events_selected']:,} selected events; uproot {r['bare_uproot']['seconds']:.2f} s, hepopt {r['hepopt']['seconds']:.2f} s"),
            ("data stage ÷ bare uproot, peak memory", f"{r['peak_memory_ratio_hepopt_over_uproot']:.2f}",
             f"uproot {r['bare_uproot']['peak_rss_mb']:.0f} MB, hepopt {r['hepopt']['peak_rss_mb']:.0f} MB"),
        ],
        "significance": lambda: [
            (f"{label}, fraction of a trial", f"{v['fraction_of_trial']:.4f}", f"{v['seconds'] * 1e3:.2f} ms of a {r['trial_seconds']:.2f} s trial")
            for label, v in r.items() if isinstance(v, dict)
        ],
        "scaling": lambda: [
            (f"{row['events']:,} events x {row['variables']} variables: epoch time per event vs. the smallest",
             f"{row['epoch_time_per_event_vs_smallest']:.2f}",
             f"{row['epoch_us_per_event']:.1f} µs/event; peak {row['peak_rss_gb']:.2f} GB = {row['peak_over_raw_features']:.1f}x the raw features")
            for row in r["rows"]
        ] + [("largest peak memory (target: well under 4 GB)", f"{r['largest_peak_rss_gb']:.2f} GB", "")],
        "ray_scaling": lambda: [
            ("Ray, 2 ÷ 1 workers, steady-state trials per minute", f"{r['scaling_ratio_2_over_1']:.2f}", "the 1-worker run"),
            ("the same with the workers' start-up", f"{r['scaling_ratio_2_over_1_with_startup']:.2f}", "the 1-worker run"),
        ],
        "elimination": lambda: [
            (f"elimination by {m}: wall time ÷ shuffle's", f"{r[m]['seconds'] / r['shuffle']['seconds']:.2f}",
             f"{r[m]['seconds']:.1f} s, {r[m]['n_selected']} of {r[m]['n_start']} kept, test AUC {r[m]['selected_auc_test']:.4f} vs {r['all_variables_auc_test']:.4f} with all")
            for m in ("shuffle", "hybrid", "retrain") if m in r
        ],
        "busy_machine": lambda: [
            ("local ÷ Ray time per trial, 2 busy processes beside (target ≥ 0.9)", f"{r['local_over_ray_time_per_trial']:.2f}",
             f"{r['local']['train_seconds_per_trial']:.2f} s local, {r['ray']['train_seconds_per_trial']:.2f} s Ray (niced workers), load {r['local']['load']}"),
            ("local ÷ Ray trials per minute, same load", f"{r['local_over_ray_throughput']:.2f}", f"{r['local']['trials_per_minute']} vs {r['ray']['trials_per_minute']}"),
            ("local now ÷ the old local default (one trial at a time, all-core threads)", f"{r['local_now_over_old_local_throughput']:.2f}",
             f"{r['old_local']['trials_per_minute']} trials/min before"),
            ("bare torch loop, all-core threads ÷ 1 thread, loaded", f"{r['bare_loop_all_threads_over_one_loaded']:.1f}",
             f"quiet: {r['bare_loop_quiet']['threads_all']:.2f} s vs {r['bare_loop_quiet']['threads_1']:.2f} s"),
        ],
        "inference_aware": lambda: [
            (f"inference-aware step ÷ cross-entropy step, {k.replace('_', ' ')} (target ≤ 3)", f"{v['ratio']:.2f}",
             f"{v['step_ms']:.1f} ms vs {r['bce_step_ms']:.1f} ms; batch {r['batch']}, {r['bins']} bins, {r['nuisances']} nuisances")
            for k, v in r.items() if isinstance(v, dict)
        ],
        "example_end_to_end": lambda: [
            ("README example: time in trials ÷ wall time", f"{r['trials_over_wall']:.2f}",
             f"{r['trials']} trials, {r['wall_s']:.0f} s wall; test Z {r['baseline_test_significance']} → {r['best_test_significance']}"),
        ],
    }  # fmt: skip
    return rows[name]()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that every benchmark runs")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for name, (full, quick) in BENCHES.items():
        if args.only and name not in args.only:
            continue
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else full), "--json", out.name]
            print(f"== {name}: {' '.join(command[1:])}", flush=True)
            start, load_before = time.perf_counter(), os.getloadavg()[0]
            done = subprocess.run(command, cwd=HERE, check=False)
            seconds = time.perf_counter() - start
            load = round(max(load_before, os.getloadavg()[0]), 2)  # what the machine was doing meanwhile
            if done.returncode != 0:
                results[name] = {"error": f"exit code {done.returncode}", "seconds": round(seconds, 1)}
                continue
            results[name] = {**json.loads(Path(out.name).read_text()), "bench_seconds": round(seconds, 1), "load": load}
    meta = {
        "when": datetime.datetime.now(tz=datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}, python {platform.python_version()}",
    }
    try:
        import torch

        meta["torch"] = f"{torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        pass
    (args.out / "latest.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    lines = [f"# hepopt benchmarks ({meta['when']}{', quick' if args.quick else ''})", "", meta["machine"], ""]
    lines += [
        "| benchmark | figure | value | baseline, measured in the same run | load |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | failed | {r['error']} | | |")
            continue
        for figure, value, baseline in headlines(name, r):
            lines.append(f"| {name} | {figure} | {value} | {baseline} | {r['load']} |")
    (args.out / "latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    failed = [n for n, r in results.items() if "error" in r]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
