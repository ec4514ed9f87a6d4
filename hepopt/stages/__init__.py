"""The pipeline as stages with manifests (see :mod:`hepopt.stages.base`)."""

from __future__ import annotations

from hepopt.stages.base import Stage, StageContext
from hepopt.stages.registry import load_stages, stage_list
from hepopt.stages.runner import run_stages, status
from hepopt.stages.studies import StudyRow, study_status

__all__ = ["Stage", "StageContext", "StudyRow", "load_stages", "run_stages", "stage_list", "status", "study_status"]
