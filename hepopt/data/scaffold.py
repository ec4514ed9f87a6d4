"""A starting config from what is in the files (``hepopt init``): the datasets, the tree, the weight
and event-number branches, and features proposed from the branches (flat numbers as they are; per
collection, the leading object's transverse momentum and the multiplicity). Reads only the files'
metadata; the result is meant to be edited (roles, cross-sections, the features)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uproot

from hepopt.errors import DataError

WEIGHT_BRANCHES = ("genWeight", "weight", "mcWeight", "evtWeight", "eventWeight")
EVENT_BRANCHES = ("event", "eventNumber", "EventNumber", "evt")
BOOKKEEPING = {"run", "luminosityBlock", "lumi", "LumiBlock", "runNumber", "RunNumber"}
SIGNAL_NAMES = re.compile(r"sig|zprime|z'|higgs|hh|hbb|susy|stop|wprime|bsm", re.IGNORECASE)
MAX_FEATURES = 20


@dataclass(frozen=True)
class Branches:
    """What one tree holds, sorted into kinds."""

    tree: str
    flat: list[str]  # numeric, one value per event
    collections: dict[str, list[str]]  # prefix -> its jagged numeric branches (``Jet`` -> ``Jet_pt``, ...)
    weight: str | None
    event: str | None


def read_branches(path: Path, tree: str | None = None) -> Branches:
    """The kinds of branches in ``path``'s tree (``Events``, else its only TTree)."""
    try:
        file = uproot.open(path)
    except Exception as err:  # noqa: BLE001 - any failure to open is one line about the file
        msg = f"{path}: cannot open as a ROOT file ({type(err).__name__}: {err})"
        raise DataError(msg) from None
    with file:
        trees = sorted({k.split(";")[0] for k, c in file.classnames().items() if c in ("TTree", "TNtuple")})
        name = tree or ("Events" if "Events" in trees else trees[0] if len(trees) == 1 else None)
        if name is None or name not in trees:
            msg = f"{path}: give the tree (--tree); it holds {trees or 'no TTree'}"
            raise DataError(msg)
        flat: list[str] = []
        collections: dict[str, list[str]] = {}
        for key, branch in file[name].items(filter_typename=None):
            interpretation = type(branch.interpretation).__name__
            typename = branch.typename.rstrip("[]")
            numeric = typename not in ("bool", "char*", "string", "TString") and "std::" not in typename
            if not numeric or "/" in key or "." in key:
                continue
            if interpretation == "AsDtype":
                flat.append(key)
            elif interpretation == "AsJagged" and "_" in key:
                collections.setdefault(key.split("_", 1)[0], []).append(key)
    keys = set(flat)
    return Branches(
        name,
        flat,
        collections,
        next((b for b in WEIGHT_BRANCHES if b in keys), None),
        next((b for b in EVENT_BRANCHES if b in keys), None),
    )


def proposed_features(branches: Branches) -> list[str]:
    """Flat numbers (not weights, event numbers, bookkeeping or multiplicity counters), then per
    collection with a ``_pt`` branch the leading object's pt and the multiplicity."""
    counters = {f"n{prefix}" for prefix in branches.collections}
    skip = {branches.weight, branches.event, *BOOKKEEPING, *counters}
    features = [b for b in branches.flat if b not in skip]
    for prefix, members in branches.collections.items():
        if f"{prefix}_pt" in members:
            features += [f"nth({prefix}_pt, 0, fill=-1)", f"num({prefix}_pt)"]
    return features


def config_text(
    datasets: dict[str, dict[str, Any]], branches: Branches, fileset: str | None = None, cross_sections: bool = False
) -> str:
    """The YAML of a starting config (with comments saying what to check); ``cross_sections``: the
    fileset gives them, so the config needs a luminosity (1 fb^-1 written, to be set)."""
    features = proposed_features(branches)
    lines = [
        "# Written by `hepopt init` from the files' branches: check the roles, cross-sections and features,",
        "# then `hepopt check hepopt.yaml` and `hepopt optimize hepopt.yaml`.",
        "name: analysis",
        f"{'' if cross_sections else '# '}luminosity: 1000.0   # pb^-1: set your analysis' luminosity (with cross-sections)",
    ]
    if fileset is not None:
        lines.append(f"fileset: {_quoted(fileset)}")
    lines.append("datasets:")
    for name, settings in datasets.items():
        lines.append(f"  {_quoted(name)}:")
        for key, value in settings.items():
            shown = _quoted(value) if isinstance(value, str) else value
            lines.append(f"    {key}: {shown}")
    lines.append("features:")
    lines += [f"  - {_quoted(f)}" for f in features[:MAX_FEATURES]]
    lines += [f"  # - {_quoted(f)}" for f in features[MAX_FEATURES:]]
    if branches.event is not None:
        lines += ["data:", f"  event_id: {branches.event}       # reproducible splits: an event keeps its split"]
    lines += ["search:", "  n_trials: 20"]
    return "\n".join(lines) + "\n"


def datasets_from_files(paths: list[Path], branches: Branches, folder: Path) -> dict[str, dict[str, Any]]:
    """One dataset per file, named by the file; signal if the name looks like a signal, else
    background (a guess to check)."""
    out = {}
    for path in paths:
        settings: dict[str, Any] = {
            "files": _relative(path, folder),
            "role": "signal" if SIGNAL_NAMES.search(path.stem) else "background",
        }
        if branches.tree != "Events":
            settings["tree"] = branches.tree
        if branches.weight is not None:
            settings["weight"] = branches.weight
        out[path.stem] = settings
    return out


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path.resolve())


def _quoted(text: str) -> str:
    """A YAML scalar that reads back as ``text`` (quoted when YAML would read it otherwise)."""
    import yaml

    plain = yaml.safe_dump(text, default_style=None).strip().removesuffix("...").strip()
    return (
        plain
        if yaml.safe_load(plain) == text and "\n" not in plain
        else yaml.safe_dump(text, default_style='"').strip()
    )
