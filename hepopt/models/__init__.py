"""Model families hepopt can search: the built-in MLP, the boosted-tree baseline, a team's own."""

from __future__ import annotations

from hepopt.models.base import ModelFamily
from hepopt.models.registry import load_families, model_family

__all__ = ["ModelFamily", "load_families", "model_family"]
