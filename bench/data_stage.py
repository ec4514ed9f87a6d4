"""The coffea data stage vs. bare uproot computing the same features from the same files.

Each variant runs in its own process (so peak memory is its own); prints events/s, peak RSS and
the ratios. Uses the example analysis' samples, written first if absent.

    python bench/data_stage.py [--scale 1.0] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANALYSIS = ROOT / "analyses" / "zprime_ttbar"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
mode, config_path = sys.argv[1], Path(sys.argv[2])
from hepopt.config import load_config
config = load_config(config_path)
# Imports are outside the timed region for both: the stage is measured, not start-up.
import awkward as ak, numpy as np, uproot, coffea.processor
from hepopt.data.stage import prepare_data
from hepopt.data.fileset import samples_from_config
start = time.perf_counter()
if mode == "hepopt":
    n = len(prepare_data(config, progress=False, use_cache=False))
else:
    n = 0
    for sample in samples_from_config(config):
        for path in sample.files:
            ev = uproot.open(path)[sample.tree].arrays(
                ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_btagDeepB", "Muon_pt", "Electron_pt", "MET_pt", "MET_phi",
                 "genWeight", "event"])
            sel = (ak.num(ev.Jet_pt[ev.Jet_pt > 30]) >= 3) & (
                (ak.num(ev.Muon_pt[ev.Muon_pt > 25]) + ak.num(ev.Electron_pt[ev.Electron_pt > 25])) >= 1)
            ev = ev[sel]
            jets = ak.pad_none(ev.Jet_pt, 4)
            cols = [ak.fill_none(jets[:, 0], -1), ak.fill_none(jets[:, 1], -1), ak.fill_none(jets[:, 2], -1),
                    ak.fill_none(jets[:, 3], 0), ak.num(ev.Jet_pt[ev.Jet_pt > 30]),
                    ak.num(ev.Jet_pt[ev.Jet_btagDeepB > 0.6]), ak.fill_none(ak.max(ev.Jet_btagDeepB, axis=1), 0),
                    ak.sum(ev.Jet_pt, axis=1), ev.MET_pt,
                    np.maximum(ak.fill_none(ak.max(ev.Muon_pt, axis=1), 0), ak.fill_none(ak.max(ev.Electron_pt, axis=1), 0)),
                    abs(ak.fill_none(ak.pad_none(ev.Jet_eta, 1)[:, 0], 0)),
                    abs((ev.MET_phi - ak.fill_none(ak.pad_none(ev.Jet_phi, 1)[:, 0], 0) + np.pi) % (2 * np.pi) - np.pi)]
            table = np.stack([ak.to_numpy(c).astype(np.float32) for c in cols], axis=1)
            n += len(table)
elapsed = time.perf_counter() - start
print(json.dumps({"events": n, "seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="sample size relative to the example's")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, interleaved; the best counts")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    samples = ANALYSIS / "samples" if args.scale == 1.0 else ROOT / "bench" / f"samples_x{args.scale:g}"
    sys.path.insert(0, str(ANALYSIS))
    import make_samples

    make_samples.make_samples(samples, scale=args.scale)
    config = (ANALYSIS / "hepopt.yaml").read_text().replace("samples/", f"{samples}/")
    config = config.replace("  - callable: features:jets_mass", "")  # bare uproot computes the expression features
    bench_config = ROOT / "bench" / ".data_stage.yaml"
    bench_config.write_text(config)
    runs = {}
    for mode in ("uproot", "hepopt") * args.repeats:  # interleaved; the best of each
        out = subprocess.run(
            [sys.executable, "-c", CHILD, mode, str(bench_config)], capture_output=True, text=True, check=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if mode not in runs or result["seconds"] < runs[mode]["seconds"]:
            runs[mode] = result
    bench_config.unlink()
    for r in runs.values():
        r["events_per_s"] = r["events"] / r["seconds"]
    summary = {
        "events_selected": runs["hepopt"]["events"],
        "hepopt": runs["hepopt"],
        "bare_uproot": runs["uproot"],
        "speed_ratio_hepopt_over_uproot": round(runs["hepopt"]["events_per_s"] / runs["uproot"]["events_per_s"], 3),
        "peak_memory_ratio_hepopt_over_uproot": round(runs["hepopt"]["peak_rss_mb"] / runs["uproot"]["peak_rss_mb"], 3),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
