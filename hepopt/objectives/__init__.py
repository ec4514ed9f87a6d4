"""Objectives: figures of merit looked up by name from the ``hepopt.objectives`` entry points."""

from __future__ import annotations

from hepopt.objectives.base import Objective, ObjectiveInputs, ObjectiveResult, VariedInputs
from hepopt.objectives.registry import GROUP, load_objectives, make_objective

__all__ = [
    "GROUP",
    "Objective",
    "ObjectiveInputs",
    "ObjectiveResult",
    "VariedInputs",
    "load_objectives",
    "make_objective",
]
