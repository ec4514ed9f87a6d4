"""The config reference (generated from the schema) documents every key, including every key the
shipped example analyses use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hepopt.config.reference import config_reference, sections, undocumented

ANALYSES = Path(__file__).resolve().parents[3] / "analyses"
NAMED = {"datasets", "variations", "model.space", "variations.<name>.datasets", "eliminate.groups"}  # user names
FREE_FORM = ("options", "values", "enqueue[]")  # an objective's options, a variation's values, points


def test_every_key_has_a_description() -> None:
    assert undocumented() == []


def test_a_key_shows_its_type_default_and_bounds() -> None:
    rows = {
        line.split(" | ")[0].strip("| `"): line for line in config_reference().splitlines() if line.startswith("| `")
    }
    assert rows["search.cross_validation.mode"].split(" | ")[1:3] == [
        '`"per_trial"` or `"best_trials"`',
        '`"per_trial"`',
    ]
    assert "≥ 1" in rows["search.n_trials"]
    assert "`20`" in rows["search.n_trials"]
    assert rows["datasets.<name>.role"].split(" | ")[2] == "required"


def paths(value: Any, prefix: str = "") -> set[str]:
    """The dotted keys of a config as the reference writes them (names chosen by the user -> <name>)."""
    found = set()
    if isinstance(value, dict) and not prefix.endswith(FREE_FORM):
        for key, inner in value.items():
            dotted = f"{prefix}.<name>" if prefix in NAMED else f"{prefix}.{key}" if prefix else key
            if prefix not in NAMED:
                found.add(dotted)
            found |= paths(inner, dotted)
    elif isinstance(value, list):
        for item in value:
            found |= paths(item, prefix + "[]") if isinstance(item, dict) else set()
    return found


@pytest.mark.parametrize("config", sorted(ANALYSES.glob("*/hepopt*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_key_of_the_example_configs_is_in_the_reference(config: Path) -> None:
    documented = {key.path for section in sections() for key in section.keys}
    used = {p for p in paths(yaml.safe_load(config.read_text())) if not p.startswith("features")}
    assert len(used) > 15  # the walk reached the sections
    assert used - documented == set()
