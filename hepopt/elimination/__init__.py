"""Input-variable selection by backward elimination (shuffle, retrain, or shuffle then retrain)."""

from __future__ import annotations

from hepopt.elimination.backward import EliminationResult, Iteration, backward_elimination
from hepopt.elimination.importance import Importance

__all__ = ["EliminationResult", "Importance", "Iteration", "backward_elimination"]
