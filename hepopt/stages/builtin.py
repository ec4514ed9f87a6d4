"""hepopt's own stages: prepare -> preoptimize -> eliminate -> optimize -> finetune -> export.

Each works from the artifacts of the stages before it (paths, variable lists, parameters), so any
of them can run after the others were skipped; objects already in memory are reused when there.
Each lives in its own module with its body; this one names them (the ``hepopt.stages`` entry points).
"""

from __future__ import annotations

from hepopt.stages.eliminate import Eliminate, Preoptimize
from hepopt.stages.export import Export
from hepopt.stages.finetune import Finetune
from hepopt.stages.optimize import Optimize
from hepopt.stages.prepare import Prepare

__all__ = ["Eliminate", "Export", "Finetune", "Optimize", "Preoptimize", "Prepare"]
