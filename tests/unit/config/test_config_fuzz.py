"""Configs fuzzed with hypothesis: whatever a person (or a bad merge) writes, loading and checking
it either gives a valid config or one clear HepoptError, never another exception."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepopt.config import config_from_dict, load_config
from hepopt.errors import HepoptError

VALID: dict[str, Any] = {
    "name": "fuzz",
    "luminosity": 140000.0,
    "datasets": {
        "sig": {"files": "s.root", "role": "signal", "cross_section": 0.06, "weight": "genWeight"},
        "bkg": {"files": ["b.root"], "role": "background", "cross_section": 365.0},
    },
    "variations": {"jes_up": {"datasets": {"sig": {"files": "s_up.root"}}}, "lumi_up": {"weight": "1.02"}},
    "features": ["MET_pt", {"lead": "nth(Jet_pt, 0, fill=-1)"}],
    "selection": "MET_pt > 20",
    "data": {"executor": "iterative", "split": {"train": 0.5, "validation": 0.25, "test": 0.25}},
    "model": {
        "space": {
            "units": {"type": "int", "low": 8, "high": 64},
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        }
    },
    "objective": {"name": "asimov_significance", "options": {"bins": 10}},
    "constraints": [{"name": "roc_auc", "min": 0.9}],
    "adversary": {"variations": ["jes_up"]},
    "search": {"sampler": "tpe", "n_trials": 4, "pruner": "median"},
    "eliminate": {"method": "hybrid", "min_variables": 1},
    "finetune": {"population": 4, "epochs": 4},
}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["", "signal", "nope", "tpe", "1e-3", "x > 1 &", "nth(", "asimov_significance", "-1"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a nested config (list items by index)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += paths(child, (*prefix, i))
    return found


@st.composite
def mutated_configs(draw: st.DrawFn) -> Any:
    raw = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths(raw) or [()]))
        if not where:
            return draw(values)  # the whole document replaced
        parent = raw
        for key in where[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = draw(values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(values)
        if not paths(raw):
            break
    return raw


def check(raw: Any, source: str) -> None:
    from hepopt.stages.plan import make_plan

    try:
        make_plan(config_from_dict(raw, source))
    except HepoptError as err:
        message = str(err)
        assert message, "an empty error message"
        assert "\n" not in message.strip() or message.startswith(source), message
        assert "Traceback" not in message


def test_the_valid_config_is_valid() -> None:
    from hepopt.stages.plan import make_plan

    make_plan(config_from_dict(copy.deepcopy(VALID), "cfg.yaml"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_mutated_configs_give_a_valid_config_or_a_clear_error(raw: Any) -> None:
    check(raw, "cfg.yaml")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_yaml_text_gives_a_config_or_a_clear_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("yaml") / "hepopt.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except HepoptError as err:
        message = str(err)
    else:
        return
    assert str(path) in message


def test_a_mutated_config_through_the_cli_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    raw = copy.deepcopy(VALID)
    raw["search"]["n_trials"] = "many"
    raw["datasets"]["sig"]["files"] = str(tmp_path / "s.root")
    (tmp_path / "hepopt.yaml").write_text(yaml.safe_dump(raw))
    done = subprocess.run(
        [sys.executable, "-m", "hepopt.cli", "optimize", str(tmp_path / "hepopt.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"hepopt: error: {tmp_path / 'hepopt.yaml'}: search.n_trials: Input should be a valid integer, unable to parse string as an integer (got 'many')"
    ]
