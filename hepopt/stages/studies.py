"""``hepopt status``: the Optuna studies the searching stages hold, which one the config would
resume, and the earlier ones kept (``NAME@KEY``) when the search inputs changed."""

from __future__ import annotations

from dataclasses import dataclass

from hepopt.config.schema import HepoptConfig
from hepopt.errors import HepoptError
from hepopt.stages.base import Stage
from hepopt.stages.runner import stage_keys

SEARCHING = {"optimize": None, "preoptimize": "-preoptimize"}  # stage -> suffix of its study name


@dataclass(frozen=True)
class StudyRow:
    stage: str
    name: str
    key: str | None
    complete: int
    trials: int
    current: bool  # the study this config's search resumes
    note: str = ""


def search_config(config: HepoptConfig, stage: str) -> HepoptConfig:
    """The config a searching stage runs its study with (own name and folder for preoptimize)."""
    suffix = SEARCHING[stage]
    return config if suffix is None else config.for_search_in(stage, config.name + suffix)


def study_status(config: HepoptConfig, stages: list[Stage]) -> list[StudyRow]:
    """Every study of the searching stages in ``stages``, read from their storages (nothing is
    created, no data read)."""
    from hepopt.search.identity import list_studies, study_key
    from hepopt.search.storage import existing_storage, storage_url

    keys = dict(zip([s.name for s in stages], stage_keys(config, stages), strict=True))
    names = list(keys)
    rows = []
    for stage in names:
        if stage not in SEARCHING:
            continue
        searched = search_config(config, stage)
        index = names.index(stage)
        current = study_key(searched, keys[names[index - 1]] if index else "").key
        try:
            storage = existing_storage(storage_url(searched))
            studies = list_studies(storage) if storage is not None else []
        except HepoptError as err:
            rows.append(StudyRow(stage, searched.name, None, 0, 0, False, str(err)))
            continue
        for info in studies:
            if info.name == searched.name or info.name.startswith(searched.name + "@"):
                is_current = info.name == searched.name and info.key == current
                note = "" if is_current or info.name != searched.name else "other search inputs: a run sets it aside"
                if info.name != searched.name and info.key == current:
                    note = "made with these inputs: a run resumes it"
                rows.append(StudyRow(stage, info.name, info.key, info.complete, info.trials, is_current, note))
    return rows
