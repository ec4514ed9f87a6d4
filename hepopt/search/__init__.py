"""Hyperparameter search with Optuna: the space, the samplers, one trial, the study."""

from __future__ import annotations

from hepopt.search.space import SearchSpace

__all__ = ["SearchSpace"]
