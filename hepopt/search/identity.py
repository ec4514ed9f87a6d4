"""Which search inputs a study's trials were made with, so that a study is never reused for others.

A study belongs to exactly one set of search inputs: the events (the key of the stages before the
search: files, features, selection, weights, the elimination's variables), the split and seed,
the model family and its space, the training, the adversary, the objective(s) and the
constraints' objectives. Their fingerprint is written into the study's user attributes when it is
created. A rerun whose fingerprint differs does not resume it: on a storage of one driver (SQLite,
a journal file) the old study is kept under another name (``NAME@KEY``, its files moved to
``<search folder>/earlier/NAME@KEY``) and a new one starts; on a database server shared by several
drivers the run is refused, since other drivers may be filling that study.

What only decides how many trials run, in which order or where (``n_trials``, ``timeout``, the
sampler and pruner, ``enqueue``, ``backend``, ``workers``, the Ray address, GPUs, threads,
device, the storage itself) is not part of it: trials stay valid whatever those are, so changing
them resumes the study.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepopt.objectives import base as objective_base

if TYPE_CHECKING:
    import optuna

    from hepopt.config.schema import HepoptConfig

KEY_ATTR = "hepopt_key"
PARTS_ATTR = "hepopt_inputs"
EARLIER = "earlier"  # <search folder>/earlier/NAME@KEY: what an earlier study left
# Search settings a trial's values do not depend on.
NOT_IN_KEY = (
    "n_trials", "timeout", "backend", "workers", "ray_address", "ray_connect_timeout", "gpus_per_trial", "storage",
    "enqueue", "sampler", "population_size", "mutation_prob", "crossover_prob", "pruner", "bootstrap",
)  # fmt: skip
# Files of a search folder that belong to the folder, not to one study.
FOLDER_FILES = ("manifest.json", "study.db", "study.db-journal", "study.db-wal", "study.db-shm", EARLIER)


@dataclass(frozen=True)
class StudyKey:
    """The fingerprint of a study's search inputs, and of each part (to say what changed)."""

    key: str
    parts: dict[str, str]


def _digest(value: Any, length: int = 16) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:length]


def search_inputs(config: HepoptConfig) -> dict[str, Any]:
    """What the values of a trial with given hyperparameters depend on, by part (the events
    aside: they come in as the key of the stages before the search)."""
    search = config.search.model_dump(mode="json", exclude=set(NOT_IN_KEY) & set(type(config.search).model_fields))
    return {
        "seed": config.seed,
        "split": config.data.split.model_dump(mode="json"),
        "model": config.model.model_dump(mode="json", exclude={"compare"}),  # compared families train outside
        "training": config.training.model_dump(mode="json", exclude={"threads", "device"}),
        "adversary": config.adversary.model_dump(mode="json") if config.adversary else None,
        "objectives": [o.model_dump(mode="json") for o in config.objective_configs()],
        # Bounds are judged anew at every run; the values a trial recorded depend on the options.
        "constraints": [{"name": c.name, "options": c.options} for c in config.constraints],
        "search": search,  # cross-validation, seeds per trial, overtraining conditions
        "hepopt_definitions": objective_base.DEFINITIONS,  # what hepopt's objectives compute
    }


def study_key(config: HepoptConfig, upstream: str | None = None) -> StudyKey:
    """The fingerprint of a search on ``config``; ``upstream`` is the key of the stage before the
    search (it covers the events and the selected variables)."""
    parts = {name: _digest(value, 8) for name, value in search_inputs(config).items()}
    parts["events"] = upstream or ""
    return StudyKey(_digest(parts), parts)


def changed_parts(old: dict[str, str], new: StudyKey) -> list[str]:
    """The parts whose fingerprint differs (all of them when the study recorded none)."""
    if not old:
        return ["(not recorded)"]
    return sorted(name for name in set(old) | set(new.parts) if old.get(name) != new.parts.get(name))


def recorded_key(study: optuna.Study) -> tuple[str | None, dict[str, str]]:
    attrs = study.user_attrs
    return attrs.get(KEY_ATTR), dict(attrs.get(PARTS_ATTR) or {})


def record_key(study: optuna.Study, key: StudyKey) -> None:
    study.set_user_attr(KEY_ATTR, key.key)
    study.set_user_attr(PARTS_ATTR, key.parts)


def kept_name(name: str, key: str | None) -> str:
    """The name a study of ``key`` is kept under once other inputs take ``name``."""
    return f"{name}@{key[:8] if key else 'unrecorded'}"


def archive_study(storage: Any, name: str, old_key: str | None, search_dir: Path) -> str:
    """Keep study ``name`` (and its folder's files) under ``NAME@KEY`` and free ``name`` for a new
    study; returns the name it is kept under. For storages of one driver only."""
    import optuna

    taken = set(optuna.get_all_study_names(storage))
    base = kept_name(name, old_key)
    archived, n = base, 1
    while archived in taken or (search_dir / EARLIER / archived).exists():
        n += 1
        archived = f"{base}-{n}"
    _rename_study(storage, name, archived)
    _move_files(search_dir, search_dir / EARLIER / archived)
    return archived


def restore_study(storage: Any, name: str, key: StudyKey, search_dir: Path) -> str | None:
    """Bring back the study kept for ``key`` (``NAME@KEY``, when the config returns to inputs it
    had before) as ``name``, with its files; returns the name it was kept under, or None."""
    import optuna

    kept = kept_name(name, key.key)
    if kept not in set(optuna.get_all_study_names(storage)):
        return None
    if optuna.load_study(study_name=kept, storage=storage).user_attrs.get(KEY_ATTR) != key.key:
        return None
    _rename_study(storage, kept, name)
    earlier = search_dir / EARLIER / kept
    if earlier.is_dir():
        _move_files(earlier, search_dir)
        shutil.rmtree(earlier, ignore_errors=True)
    return kept


def _rename_study(storage: Any, old: str, new: str) -> None:
    import optuna

    optuna.copy_study(from_study_name=old, from_storage=storage, to_storage=storage, to_study_name=new)
    optuna.delete_study(study_name=old, storage=storage)


def _move_files(search_dir: Path, to: Path) -> None:
    """The trial models, tables and plots of the old study go with it (the new study numbers its
    trials from 0 again, and its files must not be mistaken for the old ones)."""
    if not search_dir.is_dir():
        return
    leftovers = [p for p in search_dir.iterdir() if p.name not in FOLDER_FILES and not p.name.startswith(".")]
    if not leftovers:
        return
    to.mkdir(parents=True, exist_ok=True)
    for path in leftovers:
        shutil.move(str(path), str(to / path.name))


@dataclass(frozen=True)
class StudyInfo:
    name: str
    key: str | None
    complete: int
    trials: int


def list_studies(storage: Any) -> list[StudyInfo]:
    """Every study in ``storage`` with its recorded key and trial counts."""
    import optuna
    from optuna.trial import TrialState

    infos = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        key = summary.user_attrs.get(KEY_ATTR)
        infos.append(StudyInfo(summary.study_name, key, states.count(TrialState.COMPLETE), len(states)))
    return infos
