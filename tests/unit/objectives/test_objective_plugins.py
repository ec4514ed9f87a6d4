"""The objective plugin interface: what a plugin declares is checked when it is loaded, and the
inputs it declares decide what the config must have and what hepopt computes for it."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from hepopt.config import config_from_dict
from hepopt.errors import ConfigError, PluginError
from hepopt.objectives import ObjectiveInputs, load_objectives

from helpers import varied_toy_sets

BAD_PLUGINS = {
    "wrong_name": ("name = 'other'\n    direction = 'maximize'", "Plugin.name is 'other', not the entry point's name"),
    "bad_direction": ("name = 'bad_direction'\n    direction = 'max'", "direction must be 'maximize' or 'minimize'"),
    "bad_needs": (
        "name = 'bad_needs'\n    needs = frozenset({'truth'})",
        "needs must be a set of ['dataset', 'variations']",
    ),
}
_counter = itertools.count()


def install(site: Path, name: str, body: str, evaluate: bool = True) -> str:
    """A distribution in ``site`` (module + dist-info) registering ``Plugin`` as objective ``name``."""
    module = f"team_objective_{next(_counter)}"
    method = "\n    def evaluate(self, inputs):\n        return ObjectiveResult(1.0)\n" if evaluate else "\n"
    (site / f"{module}.py").write_text(
        f"from hepopt.objectives import Objective, ObjectiveResult\n\nclass Plugin(Objective):\n    {body}\n{method}"
    )
    info = site / f"{module}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[hepopt.objectives]\n{name} = {module}:Plugin\n")
    return module


@pytest.mark.parametrize("name", sorted(BAD_PLUGINS))
def test_a_plugin_that_declares_itself_wrongly_is_refused_by_name(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, problem = BAD_PLUGINS[name]
    module = install(tmp_path, name, body)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        load_objectives()
    message = str(info.value)
    assert message.startswith(f"objective plugin '{name}' = '{module}:Plugin' (from {module}): ")
    assert problem in message


def test_a_plugin_without_evaluate_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "lazy", "name = 'lazy'", evaluate=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"objective plugin 'lazy'.*Plugin does not implement evaluate"):
        load_objectives()


def test_a_well_declared_plugin_loads_next_to_the_builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "team_fom", "name = 'team_fom'\n    needs = frozenset({'dataset'})")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = load_objectives()
    assert found["team_fom"].needs == {"dataset"}
    assert {"asimov_significance", "log_likelihood_ratio", "robust_significance"} <= set(found)


BASE = {
    "luminosity": 1.0,
    "datasets": {"sig": {"files": "s.root", "role": "signal"}, "bkg": {"files": "b.root", "role": "background"}},
    "features": ["MET_pt"],
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"objective": {"name": "output_shift"}}, "cfg.yaml: objective: 'output_shift' needs systematic variations"),
        (
            {"objectives": [{"name": "roc_auc"}, {"name": "robust_significance"}]},
            "cfg.yaml: objectives.1: 'robust_significance' needs systematic variations",
        ),
        ({"objectives": [{"name": "roc_auc"}, {"name": "auc"}]}, "objectives.1.name: unknown objective 'auc'"),
    ],
)
def test_an_objective_needing_variations_needs_them_in_the_config(changes: dict, expected: str) -> None:
    from hepopt.stages.plan import make_plan

    with pytest.raises(ConfigError) as info:
        make_plan(config_from_dict({**BASE, **changes}, "cfg.yaml"))
    assert expected in str(info.value)
    with_variations = {**BASE, **changes, "variations": {"jes_up": {"weight": "1.1"}}}
    if "unknown" not in expected:
        make_plan(config_from_dict(with_variations, "cfg.yaml"))  # fine with a variation


def test_the_varied_events_are_predicted_only_for_objectives_that_read_them() -> None:
    """TrialRunner.score hands the objectives the variations only when one of them declares it."""
    import torch

    from hepopt.models.params import TrainParams
    from hepopt.objectives import make_objective
    from hepopt.scoring.trial import TrialRunner
    from hepopt.training.classifier import Classifier

    sets = varied_toy_sets()
    seen: list[ObjectiveInputs] = []

    class Spy:
        def __init__(self, inner: object) -> None:
            self.inner, self.needs, self.direction, self.name = inner, inner.needs, inner.direction, inner.name

        def evaluate(self, inputs: ObjectiveInputs) -> object:
            seen.append(inputs)
            return self.inner.evaluate(inputs)

    model = torch.nn.Sequential(torch.nn.Linear(2, 1))
    classifier = Classifier(model, sets.scaler, sets.feature_names, TrainParams())
    for names, expect_variations in ((["roc_auc"], False), (["roc_auc", "output_shift"], True)):
        seen.clear()
        runner = TrialRunner(sets, tuple(Spy(make_objective(n)) for n in names))  # type: ignore[misc]
        values = [r.value for r in runner.score(classifier, "validation")]
        assert len(seen) == len(names)
        assert all(bool(inputs.variations) is expect_variations for inputs in seen)
        assert np.isfinite(values).all()
