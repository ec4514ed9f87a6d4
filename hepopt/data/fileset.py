"""From the config's datasets and variations to a checked coffea fileset.

Every file is opened once on the driver before coffea starts, so a missing file, tree or branch
is reported by name straight away instead of from inside a worker.
"""

from __future__ import annotations

import glob
import hashlib
import math
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uproot

from hepopt.config.schema import HepoptConfig
from hepopt.data.features import FeatureSpec
from hepopt.data.table import NOMINAL
from hepopt.errors import DataError


@dataclass(frozen=True)
class Sample:
    """One dataset under one variation: the unit the coffea fileset is made of."""

    dataset: str
    variation: str
    files: tuple[Path, ...]
    tree: str

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.variation}"

    @property
    def coffea_key(self) -> str:
        """:attr:`key` as coffea's fileset takes it: coffea hashes dataset names as ASCII."""
        return self.key if self.key.isascii() else self.key.encode("ascii", "backslashreplace").decode()


def expand_files(patterns: list[str], base_dir: Path, key: str) -> tuple[Path, ...]:
    """Resolve file names and globs (relative to the config's folder), sorted for stable ids."""
    files: list[Path] = []
    for pattern in patterns:
        full = Path(pattern) if Path(pattern).is_absolute() else base_dir / pattern
        if glob.has_magic(str(full)):
            matches = sorted(Path(p) for p in glob.glob(str(full)))  # noqa: PTH207 - absolute patterns
            if not matches:
                msg = f"{key}: no file matches '{pattern}' (looked in {full.parent})"
                raise DataError(msg)
            files.extend(matches)
        elif not full.is_file():
            msg = f"{key}: file '{full}' not found"
            raise DataError(msg)
        else:
            files.append(full)
    return tuple(dict.fromkeys(p.resolve() for p in files))


def samples_from_config(config: HepoptConfig) -> list[Sample]:
    """Nominal samples first (in config order), then each file-based variation."""
    base = config.base_dir
    samples = [
        Sample(name, NOMINAL, expand_files(ds.files, base, f"datasets.{name}.files"), ds.tree)
        for name, ds in config.datasets.items()
    ]
    for vname, var in config.variations.items():
        for ds_name, source in (var.datasets or {}).items():
            files = expand_files(source.files, base, f"variations.{vname}.datasets.{ds_name}.files")
            tree = source.tree or config.datasets[ds_name].tree
            samples.append(Sample(ds_name, vname, files, tree))
    return samples


@dataclass(frozen=True)
class FileInfo:
    """What opening a file told: its number of entries and the branches the expressions read."""

    entries: int
    branches: frozenset[str]


def check_samples(samples: list[Sample], spec: FeatureSpec) -> dict[tuple[Path, str], FileInfo]:
    """Open each file and check its tree and the branches the expressions need; returns what
    each (file, tree) holds, from which the chunks are cut (coffea need not open every file once
    more to count its entries) and the branches read up front."""
    found = {}
    for sample in samples:
        needed = spec.branches(sample.dataset, sample.variation)
        for path in sample.files:
            keys, entries = _tree_keys(path, sample.tree)
            for name in sorted(needed):
                if not _has_branch(name, keys):
                    close = sorted(k for k in keys if k.lower().startswith(name.lower()[:3]))[:8]
                    hint = f"; similar: {close}" if close else ""
                    msg = f"branch '{name}' not found in {path}:{sample.tree} ({len(keys)} branches){hint}"
                    raise DataError(msg)
            read = frozenset(n if n in keys else n.replace(".", "_") for n in needed)
            found[path, sample.tree] = FileInfo(entries, read)
    return found


def work_items(
    samples: list[Sample], files: Mapping[tuple[Path, str], FileInfo], chunksize: int, links: Mapping[Path, str]
) -> list[Any]:
    """coffea's work items (one chunk of one file each, cut as coffea cuts them: about
    ``chunksize`` events, even sizes), with the metadata :func:`coffea_fileset` gives; the
    branches the expressions read are read up front, in one go (coffea's ``preload``)."""
    from coffea.processor.executor import WorkItem

    fileset = coffea_fileset(samples, links)
    items = []
    for sample in samples:
        meta = fileset[sample.coffea_key]["metadata"]
        for path in sample.files:
            name = links.get(path, str(path))
            info = files[path, sample.tree]
            n = info.entries
            parts = max(round(n / chunksize), 1)
            size = max(math.ceil(n / parts), 1)
            uuid = hashlib.md5(name.encode()).digest()  # what coffea's preprocessing would give
            bounds = [(start, min(n, start + size)) for start in range(0, n, size)] or [(0, 0)]
            items += [
                WorkItem(sample.coffea_key, name, sample.tree, a, b, uuid, meta, info.branches) for a, b in bounds
            ]
    return items


def _tree_keys(path: Path, tree: str) -> tuple[set[str], int]:
    try:
        file = uproot.open(path)
    except Exception as err:
        msg = f"cannot open ROOT file {path}: {type(err).__name__}: {' '.join(str(err).split())}"
        raise DataError(msg) from err
    with file:
        try:
            obj = file[tree]
        except Exception as err:
            trees = [k.split(";")[0] for k, c in file.classnames().items() if c in {"TTree", "ROOT::RNTuple"}]
            if tree in trees:  # listed, yet unreadable: the file is cut short or damaged
                why = " ".join(str(err).split())
                msg = f"{path}: cannot read tree '{tree}' (damaged or truncated file?): {type(err).__name__}: {why}"
            else:
                msg = f"tree '{tree}' not found in {path}; trees there: {sorted(set(trees))}"
            raise DataError(msg) from err
        if not hasattr(obj, "keys"):
            msg = f"'{tree}' in {path} is a {type(obj).__name__}, not a tree"
            raise DataError(msg)
        return set(obj.keys()), int(obj.num_entries)


def _has_branch(name: str, keys: set[str]) -> bool:
    # 'Jet.pt' and NanoAOD collection access read the flat branch 'Jet_pt'.
    return name in keys or name.replace(".", "_") in keys


def coffea_fileset(samples: list[Sample], links: Mapping[Path, str] | None = None) -> dict[str, dict[str, object]]:
    """The fileset coffea's Runner takes, with hepopt's tags in each entry's metadata; a file
    with a link in ``links`` (see :func:`ascii_links`) is read through it."""
    links = links or {}

    def name(path: Path) -> str:
        return links.get(path, str(path))

    return {
        s.coffea_key: {
            "files": {name(p): s.tree for p in s.files},
            "metadata": {
                "hepopt_dataset": s.dataset,
                "hepopt_variation": s.variation,
                "file_index": {name(p): i for i, p in enumerate(s.files)},
                "file_names": {name(p): str(p) for p in s.files if p in links},  # for messages
            },
        }
        for s in samples
    }


@contextmanager
def ascii_links(samples: list[Sample]) -> Iterator[dict[Path, str]]:
    """ASCII-named links to the files whose path is not ASCII (``/home/müller/...``), for coffea,
    which hashes file names as ASCII; removed afterwards. The links live in the system's
    temporary folder: processes on this machine (the iterative and futures executors, a local
    Dask cluster) read through them; a remote Dask cluster needs ASCII paths."""
    odd = sorted({p for s in samples for p in s.files if not str(p).isascii()})
    if not odd:
        yield {}
        return
    folder = Path(tempfile.mkdtemp(prefix="hepopt-links-"))
    try:
        if not str(folder).isascii():
            msg = f"{odd[0]}: coffea reads only ASCII paths, and the temporary folder {folder} is not one either; set TMPDIR"
            raise DataError(msg)
        links = {}
        for i, path in enumerate(odd):
            link = folder / f"{i:05d}-{path.name.encode('ascii', 'replace').decode().replace('?', '_')}"
            try:
                link.symlink_to(path)
            except OSError as err:
                msg = f"{path}: coffea reads only ASCII paths, and no link to it could be made ({err.strerror})"
                raise DataError(msg) from err
            links[path] = str(link)
        yield links
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def file_identity(path: Path) -> tuple[str, int, int]:
    """What the cache key knows of a file: its path, size and modification time."""
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns)
