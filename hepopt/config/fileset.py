"""A coffea fileset as the config's source of files: the analysis' own fileset dict (or its JSON
or YAML file) fills ``datasets`` and ``variations`` so the config need not repeat them.

coffea's format, with the metadata hepopt reads (other metadata is ignored)::

    {"ttbar": {"files": {"ttbar_1.root": "Events"},            # path -> tree (or {"object_path": ...})
               "metadata": {"xsec": 831.8, "role": "background"}},
     "ttbar_jes_up": {"files": ["ttbar_up.root"], "treename": "Events",
               "metadata": {"dataset": "ttbar", "variation": "jes_up"}},
     "data": {"files": {...}, "metadata": {"isData": true}}}   # data: skipped (hepopt trains on simulation)

- ``xsec`` (or ``cross_section``), ``sum_weights`` (or ``sumw``), ``role`` and ``weight`` become the
  dataset's settings; the config's ``datasets.<name>`` may add or override any of them.
- An entry with ``metadata.variation`` other than ``nominal`` holds the varied sample of the dataset
  ``metadata.dataset`` (default: the entry's key) under that variation.
- Relative paths are relative to the fileset file's folder (or, inline, to the config's).

Loading a fileset reads JSON or YAML through the same bounded safe loader as the config; it
imports nothing and runs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hepopt.config.yaml_reader import load_yaml

_SETTINGS = {"xsec": "cross_section", "cross_section": "cross_section", "sum_weights": "sum_weights",
             "sumw": "sum_weights", "role": "role", "weight": "weight"}  # fmt: skip


class FilesetError(ValueError):
    """A fileset that cannot be read or does not say what hepopt needs; the message names the entry."""


def read_fileset(path: Path) -> dict[str, Any]:
    """A fileset file (``.json``, or YAML) as a dict."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        msg = f"fileset {path}: cannot read it ({err.strerror or err})"
        raise FilesetError(msg) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except Exception as err:  # noqa: BLE001 - any parse failure is one line about the file
        msg = f"fileset {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({' '.join(str(err).split())[:200]})"
        raise FilesetError(msg) from None
    if not isinstance(data, dict):
        msg = f"fileset {path}: expected a mapping of dataset -> {{files, metadata}}, got {type(data).__name__}"
        raise FilesetError(msg)
    return data


def merge_fileset(raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """``raw`` (a parsed config) with its ``fileset`` expanded into ``datasets`` and ``variations``.

    Raises:
        FilesetError: the fileset is unreadable, or an entry lacks what hepopt needs.
    """
    source = raw.get("fileset")
    if source is None:
        return raw
    if isinstance(source, str):
        path = Path(source) if Path(source).is_absolute() else base_dir / source
        fileset, folder, where = read_fileset(path), path.parent, f"fileset {path}"
    elif isinstance(source, dict):
        fileset, folder, where = source, base_dir, "fileset"
    else:
        msg = f"fileset: expected a path to a fileset file or a fileset mapping, got {type(source).__name__}"
        raise FilesetError(msg)
    datasets = {k: dict(v) for k, v in (raw.get("datasets") or {}).items() if isinstance(v, dict)}
    variations = {k: dict(v) for k, v in (raw.get("variations") or {}).items() if isinstance(v, dict)}
    from_fileset: dict[str, dict[str, Any]] = {}
    for key, entry in fileset.items():
        if not isinstance(entry, dict):
            msg = f"{where}: entry '{key}': expected {{files, metadata}}, got {type(entry).__name__}"
            raise FilesetError(msg)
        meta = entry.get("metadata") or {}
        if not isinstance(meta, dict):
            msg = f"{where}: entry '{key}': metadata must be a mapping"
            raise FilesetError(msg)
        if meta.get("isData") or meta.get("is_data"):
            continue  # collision data: hepopt trains on simulation
        files, tree = _files(entry, folder, f"{where}: entry '{key}'")
        dataset = str(meta.get("dataset", key))
        variation = str(meta.get("variation", "nominal"))
        if variation != "nominal":
            varied = variations.setdefault(variation, {})
            sources = varied.setdefault("datasets", {})
            sources.setdefault(dataset, {"files": files, "tree": tree})
            continue
        settings = {"files": files, "tree": tree}
        settings |= {_SETTINGS[k]: v for k, v in meta.items() if k in _SETTINGS}
        from_fileset[dataset] = settings
    for name, settings in from_fileset.items():
        datasets[name] = settings | datasets.get(name, {})  # the config's own settings win
    return {**raw, "datasets": datasets, "variations": variations or raw.get("variations") or {}}


def _files(entry: dict[str, Any], folder: Path, where: str) -> tuple[list[str], str]:
    """The entry's file paths (absolute) and its one tree name."""
    files = entry.get("files")
    trees: set[str] = set()
    if isinstance(files, dict):
        paths = list(files)
        for value in files.values():
            tree = value.get("object_path") if isinstance(value, dict) else value
            trees.add(str(tree) if tree is not None else entry.get("treename", "Events"))
    elif isinstance(files, list | str):
        paths = [files] if isinstance(files, str) else list(files)
        trees.add(str(entry.get("treename", "Events")))
    else:
        msg = f"{where}: 'files' must be a mapping of path -> tree or a list of paths"
        raise FilesetError(msg)
    if not paths:
        msg = f"{where}: no files"
        raise FilesetError(msg)
    if len(trees) != 1:
        msg = f"{where}: its files name different trees {sorted(trees)}; hepopt reads one tree per dataset"
        raise FilesetError(msg)
    resolved = [p if "://" in p or Path(p).is_absolute() else str(folder / p) for p in map(str, paths)]
    return resolved, trees.pop()
