"""Every config shipped under analyses/ loads and resolves (search space, objectives, stages),
without data: a change of the schema that breaks one is caught here, not by its user."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepopt.config import load_config
from hepopt.stages.plan import make_plan

CONFIGS = sorted((Path(__file__).resolve().parents[3] / "analyses").glob("*/*.yaml"))


def test_there_are_shipped_configs() -> None:
    assert len(CONFIGS) >= 6


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_shipped_config_resolves(path: Path) -> None:
    plan = make_plan(load_config(path))
    assert plan.objectives
    if "loss" in plan.space.searched:  # the inference-aware example trains for its objective's model
        spec = plan.aware_spec()
        assert spec.variations == ("jes_up", "jes_down")
        assert len(spec.bins) == 11
        assert spec.mc_stat is False
