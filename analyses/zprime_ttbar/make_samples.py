"""Write the NanoAOD-like ROOT samples of the Z' -> tt (lepton+jets) example analysis.

Three processes with overlapping kinematics: a 1 TeV Z' decaying to top pairs (signal), SM
semileptonic tt and W+jets (backgrounds). Each event has jagged jets (pt, eta, phi, mass,
btagDeepB), muons and electrons, MET, a generator weight (NLO-like: some negative for the
backgrounds), and run / luminosityBlock / event numbers, in a TTree ``Events`` as NanoAOD has.

The jet-energy-scale variations ``jes_up`` / ``jes_down`` are the *same events* with every jet pT
(and mass) scaled by 1 +/- sigma(pT, eta), jets re-sorted and re-thresholded at 20 GeV, and the MET
recomputed (type-1 propagation), so everything derived from jets moves with them.

Usage::

    python analyses/zprime_ttbar/make_samples.py [--out DIR] [--scale 1.0] [--seed 1] [--force]

It skips files that already exist unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

# events at --scale 1, files per variation, fraction of negative generator weights, |genWeight|
PROCESSES = {
    "zprime": {"events": 16_000, "files": 1, "neg_fraction": 0.0, "gen_weight": 1.0},
    "ttbar": {"events": 40_000, "files": 2, "neg_fraction": 0.06, "gen_weight": 72.1},
    "wjets": {"events": 30_000, "files": 1, "neg_fraction": 0.12, "gen_weight": 1130.0},
}
VARIATIONS = {"nominal": 0.0, "jes_up": 1.0, "jes_down": -1.0}
JET_THRESHOLD = 20.0


N_NOISE = 3
MUON_MASS, ELECTRON_MASS = 0.10566, 0.000511  # GeV
# Files written by an older generator are rewritten (2: lepton masses, so NanoAODSchema reads them).
GENERATOR_VERSION = "2"


def _system_mass(process: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if process == "zprime":
        mass = 1000.0 + 40.0 * rng.standard_cauchy(n)  # Breit-Wigner, width ~ 8 %
        return np.clip(mass, 500.0, 2500.0)
    if process == "ttbar":
        return 346.0 + rng.gamma(1.6, 120.0, n)
    return 120.0 + rng.gamma(1.3, 160.0, n)


def _raw_jets(process: str, mass: np.ndarray, rng: np.random.Generator) -> dict[str, ak.Array]:
    """Jets before the energy scale: decay jets sharing the system mass plus radiation jets."""
    n = len(mass)
    if process == "wjets":
        n_hard = 1 + rng.binomial(1, 0.5, n)
        n_soft = rng.poisson(1.8, n)
        b_prob = 0.06
    else:
        n_hard = np.full(n, 4) - rng.binomial(1, 0.15, n)  # a decay jet sometimes lost
        n_soft = rng.poisson(0.9, n)
        b_prob = None
    counts = n_hard + n_soft
    owner = np.repeat(np.arange(n), counts)
    position = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    hard = position < np.repeat(n_hard, counts)
    share = np.where(process == "wjets", 0.30, 0.22)
    pt = np.where(
        hard,
        mass[owner] * share * rng.gamma(4.0, 0.25, len(owner)),
        JET_THRESHOLD + rng.exponential(25.0, len(owner)),
    )
    eta_width = 1.1 if process == "zprime" else 1.5
    eta = np.clip(rng.normal(0.0, eta_width, len(owner)), -4.7, 4.7)
    phi = rng.uniform(-np.pi, np.pi, len(owner))
    # ttbar-like: the two b jets of the top decays; W+jets: an occasional heavy-flavour jet
    is_b = hard & (position < 2) if b_prob is None else rng.random(len(owner)) < b_prob
    btag = np.where(is_b, rng.beta(6.0, 1.4, len(owner)), rng.beta(1.0, 7.0, len(owner)))
    mass_j = pt * rng.uniform(0.05, 0.2, len(owner))
    return {
        "pt": ak.unflatten(pt, counts),
        "eta": ak.unflatten(eta, counts),
        "phi": ak.unflatten(phi, counts),
        "mass": ak.unflatten(mass_j, counts),
        "btagDeepB": ak.unflatten(btag, counts),
    }


def _leptons(process: str, mass: np.ndarray, rng: np.random.Generator) -> tuple[dict, dict, np.ndarray, np.ndarray]:
    """One charged lepton (muon or electron), sometimes an extra soft one; plus the neutrino."""
    n = len(mass)
    scale = mass * (0.09 if process != "wjets" else 0.12)
    lep_pt = 25.0 + scale * rng.gamma(2.0, 0.5, n)
    is_muon = rng.random(n) < 0.55
    extra = rng.random(n) < (0.05 if process == "wjets" else 0.12)
    nu_pt = scale * rng.gamma(2.0, 0.5, n)
    nu_phi = rng.uniform(-np.pi, np.pi, n)

    def collection(mask_main: np.ndarray, lepton_mass: float) -> dict[str, ak.Array]:
        counts = mask_main.astype(int) + (extra & (rng.random(n) < 0.5)).astype(int)
        total = counts.sum()
        first = np.repeat(np.cumsum(counts) - counts, counts) == np.arange(total)
        pts = np.where(
            first & np.repeat(mask_main, counts), np.repeat(lep_pt, counts), 10.0 + rng.exponential(12.0, total)
        )
        return {
            "pt": ak.unflatten(pts, counts),
            "eta": ak.unflatten(np.clip(rng.normal(0.0, 1.1, total), -2.4, 2.4), counts),
            "phi": ak.unflatten(rng.uniform(-np.pi, np.pi, total), counts),
            "charge": ak.unflatten(rng.choice(np.array([-1, 1], np.int32), total), counts),
            "mass": ak.unflatten(np.full(total, lepton_mass), counts),  # NanoAODSchema builds 4-vectors
        }

    return collection(is_muon, MUON_MASS), collection(~is_muon, ELECTRON_MASS), nu_pt, nu_phi


def _apply_jes(jets: dict[str, ak.Array], shift: float) -> dict[str, ak.Array]:
    """Scale jets by 1 + shift * sigma(pT, eta), drop those below threshold, sort by pT."""
    sigma = 0.03 + 0.02 * np.abs(jets["eta"]) / 2.5 + 0.5 / np.sqrt(jets["pt"])
    factor = 1.0 + shift * sigma
    shifted = dict(jets, pt=jets["pt"] * factor, mass=jets["mass"] * factor)
    keep = shifted["pt"] > JET_THRESHOLD
    order = ak.argsort(shifted["pt"][keep], ascending=False)
    return {k: v[keep][order] for k, v in shifted.items()}


def _met(jets_raw: dict, jets: dict, nu_pt: np.ndarray, nu_phi: np.ndarray, shift_noise: tuple) -> dict:
    """MET = neutrino + resolution, with jet-energy shifts propagated (type-1 style)."""
    noise_x, noise_y = shift_noise
    dpx = ak.sum(jets_raw["pt"] * np.cos(jets_raw["phi"]), axis=1) - ak.sum(jets["pt"] * np.cos(jets["phi"]), axis=1)
    dpy = ak.sum(jets_raw["pt"] * np.sin(jets_raw["phi"]), axis=1) - ak.sum(jets["pt"] * np.sin(jets["phi"]), axis=1)
    px = nu_pt * np.cos(nu_phi) + noise_x + ak.to_numpy(dpx)
    py = nu_pt * np.sin(nu_phi) + noise_y + ak.to_numpy(dpy)
    return {"pt": np.hypot(px, py).astype(np.float32), "phi": np.arctan2(py, px).astype(np.float32)}


def _f32(record: dict[str, ak.Array]) -> dict[str, ak.Array]:
    return {k: ak.values_astype(v, np.int32 if k == "charge" else np.float32) for k, v in record.items()}


def make_process(process: str, n: int, seed: int) -> dict[str, dict[str, object]]:
    """All variations of one process, as branch dictionaries ready for ``mktree``/``extend``."""
    settings = PROCESSES[process]
    rng = np.random.default_rng([seed, list(PROCESSES).index(process)])
    mass = _system_mass(process, n, rng)
    jets_raw = _raw_jets(process, mass, rng)
    muons, electrons, nu_pt, nu_phi = _leptons(process, mass, rng)
    noise = (rng.normal(0.0, 12.0, n), rng.normal(0.0, 12.0, n))
    sign = np.where(rng.random(n) < settings["neg_fraction"], -1.0, 1.0)
    # Pure noise, the same in every variation and drawn from a generator of its own (the physics
    # above does not change): variables a selection must find useless (hepopt_eliminate.yaml).
    noise_rng = np.random.default_rng([seed, list(PROCESSES).index(process), N_NOISE])
    pure_noise = {f"Noise_{i}": noise_rng.normal(0.0, 1.0, n).astype(np.float32) for i in range(N_NOISE)}
    common = {
        **pure_noise,
        "run": np.full(n, 1, np.uint32),
        "luminosityBlock": (np.arange(n) // 1000 + 1).astype(np.uint32),
        "event": np.arange(1, n + 1, dtype=np.uint64),
        "genWeight": (sign * settings["gen_weight"]).astype(np.float32),
    }
    out = {}
    for variation, shift in VARIATIONS.items():
        jets = _apply_jes(jets_raw, shift)
        met = _met(_apply_jes(jets_raw, 0.0), jets, nu_pt, nu_phi, noise)
        out[variation] = {
            **common,
            "Jet": ak.zip(_f32(jets)),
            "Muon": ak.zip(_f32(muons)),
            "Electron": ak.zip(_f32(electrons)),
            "MET_pt": met["pt"],
            "MET_phi": met["phi"],
        }
    return out


def write_tree(path: Path, branches: dict[str, object]) -> None:
    """A TTree named Events (mktree; ``file[name] = ...`` would write an RNTuple in uproot 5.7)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with uproot.recreate(tmp) as file:
        file.mktree("Events", {k: ak.type(v) if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()})
        file["Events"].extend(branches)
    tmp.replace(path)


def make_samples(out: Path, scale: float = 1.0, seed: int = 1, force: bool = False) -> list[Path]:
    """Write every process and variation under ``out/<variation>/<process>_<i>.root``."""
    written = []
    stamp = out / ".generator"
    force = force or (out.exists() and (not stamp.is_file() or stamp.read_text().strip() != GENERATOR_VERSION))
    for process, settings in PROCESSES.items():
        n_files = settings["files"]
        paths = {v: [out / v / f"{process}_{i}.root" for i in range(n_files)] for v in VARIATIONS}
        if not force and all(p.is_file() for ps in paths.values() for p in ps):
            continue
        n = max(int(settings["events"] * scale), 2 * n_files)
        variations = make_process(process, n, seed)
        bounds = np.linspace(0, n, n_files + 1).astype(int)
        for variation, branches in variations.items():
            for i, path in enumerate(paths[variation]):
                part = {k: v[bounds[i] : bounds[i + 1]] for k, v in branches.items()}
                write_tree(path, part)
                written.append(path)
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(GENERATOR_VERSION + "\n")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "samples")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="rewrite existing files")
    args = parser.parse_args()
    written = make_samples(args.out, args.scale, args.seed, args.force)
    print(f"wrote {len(written)} file(s) under {args.out}" if written else f"samples present in {args.out}")


if __name__ == "__main__":
    main()
