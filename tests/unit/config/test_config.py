from __future__ import annotations

from pathlib import Path

import pytest

from hepopt.config import config_from_dict, load_config
from hepopt.errors import ConfigError
from hepopt.objectives import make_objective
from hepopt.search.space import SearchSpace

from helpers import BASE_CONFIG, with_


def error_of(raw: object) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, "cfg.yaml")
    return str(info.value)


def test_valid_config_is_typed_and_frozen() -> None:
    config = config_from_dict(BASE_CONFIG, "/x/cfg.yaml")
    assert config.datasets["bkg"].files == ["b.root"]
    assert config.datasets["sig"].files == ["s.root"]  # a single string becomes a list
    assert config.feature_entries() == [("expr:MET_pt", "MET_pt"), ("expr:lead", "nth(Jet_pt, 0, fill=-1)")]
    assert config.output_dir == Path("/x/results")
    assert config.search_dir == Path("/x/results/optimize")
    with pytest.raises(ValueError, match="frozen"):
        config.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (with_(n_trails=3), "cfg.yaml: n_trails: unknown key"),
        (
            with_(search={"n_trials": -5}),
            "cfg.yaml: search.n_trials: Input should be greater than or equal to 1 (got -5)",
        ),
        (with_(datasets={"sig": {"files": "s.root", "role": "signal"}}), "no dataset with role 'background'"),
        (
            with_(datasets={"s": {"files": "s", "role": "signal"}, "b": {"files": "b", "role": "bkg"}}),
            "datasets.b.role: Input should be 'signal' or 'background' (got 'bkg')",
        ),
        (with_(luminosity=None), "datasets.sig.cross_section: a cross-section needs 'luminosity'"),
        (with_(variations={"jes": {"datasets": {"ttbar": {"files": "x"}}}}), "variations.jes: unknown dataset 'ttbar'"),
        (with_(variations={"jes": {}}), "variations.jes: give either 'datasets'"),
        (with_(variations={"nominal": {"weight": "2"}}), "'nominal' is reserved"),
        (with_(features=["a", "a"]), "features.1: feature 'a' is listed twice"),
        (with_(features=[{"callable": "nomodule"}]), "features.0.callable: expected 'pkg.module:function'"),
        (
            with_(data={"split": {"train": 0.5, "validation": 0.2, "test": 0.2}}),
            "data.split: train + validation + test must be 1",
        ),
        (with_(model={"space": {"units": {"type": "int", "low": 8}}}), "model.space.units"),
        (
            with_(search={"storage": "study.db"}),
            "search.storage: expected an Optuna RDB URL (e.g. sqlite:///study.db) or journal:PATH (got 'study.db')",
        ),
        ([1, 2], "cfg.yaml: expected a mapping of settings at the top level, got list"),
    ],
)
def test_bad_config_names_the_key(raw: object, expected: str) -> None:
    assert expected in error_of(raw)


def test_yaml_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("datasets:\n  sig: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line \d+"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"missing\.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"widht": 3}, "model.space.widht: unknown hyperparameter of the family (mlp); known: ['n_layers'"),
        (
            {"activation": {"type": "categorical", "choices": ["relu", "relux"]}},
            "model.space.activation: invalid value 'relux'",
        ),
        ({"dropout": {"type": "float", "low": 0.0, "high": 1.5}}, "model.space.dropout: invalid value 1.5"),
        (
            {"loss": {"type": "categorical", "choices": ["bce", "inferno"]}},
            "model.space.loss: invalid value 'inferno' for 'loss' (one of ['bce', 'inference_aware'])",
        ),
        ({"ia_temperature": 0}, "model.space.ia_temperature: invalid value 0"),
        (
            {"learning_rate": {"type": "float", "low": 0, "high": 1, "log": True}},
            "a log-uniform parameter needs 'low' > 0",
        ),
    ],
)
def test_search_space_errors_name_the_parameter(space: dict, expected: str) -> None:
    config = None
    # either the schema or the space check may refuse it
    with pytest.raises(ConfigError) as info:  # noqa: PT012
        config = config_from_dict(with_(model={"space": space}), "cfg.yaml")
        SearchSpace.from_config(config.model, "cfg.yaml")
    assert expected in str(info.value)


def test_search_space_baseline_uses_fixed_values() -> None:
    config = config_from_dict(with_(model={"space": {"units": 32, "n_layers": {"type": "int", "low": 1, "high": 3}}}))
    space = SearchSpace.from_config(config.model)
    assert space.baseline()["units"] == 32
    assert space.baseline()["n_layers"] == 3  # hepopt's default, not sampled
    assert set(space.searched) == {"n_layers"}


def test_unknown_objective_lists_installed() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown objective 'asimov'; installed: \[.*'asimov_significance'.*'bce'.*'roc_auc'"
    ):
        make_objective("asimov")
    with pytest.raises(
        ConfigError, match=r"objective\.options: asimov_significance: .*unexpected keyword argument 'binz'"
    ):
        make_objective("asimov_significance", {"binz": 3})
    with pytest.raises(ConfigError, match=r"objective\.options: asimov_significance: bins must be >= 1"):
        make_objective("asimov_significance", {"bins": 0})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"adversary": {}}, "adversary: adversarial training needs systematic variations"),
        (
            {"variations": {"jes_up": {"weight": "1.1"}}, "adversary": {"variations": ["jes_dn"]}},
            "adversary.variations: unknown variation 'jes_dn'; variations are ['jes_up']",
        ),
        (
            {"variations": {"jes_up": {"weight": "1.1"}}, "adversary": {"kind": "mdn"}},
            "adversary.values: the mdn adversary needs a nuisance value for ['jes_up']",
        ),
        (
            {"objective": {"name": "bce"}, "objectives": [{"name": "bce"}, {"name": "roc_auc"}]},
            "objectives: give either 'objective' (one) or 'objectives'",
        ),
        ({"objectives": [{"name": "bce"}]}, "objectives: List should have at least 2 items"),
        (
            {"variations": {"jes_up": {"weight": "1.1"}}, "training": {"inference_aware": {"variations": ["jes"]}}},
            "training.inference_aware.variations: unknown variation 'jes'; variations are ['jes_up']",
        ),
        ({"training": {"inference_aware": {"template_fraction": 0}}}, "training.inference_aware.template_fraction"),
    ],
)
def test_adversary_and_objectives_errors(changes: dict, expected: str) -> None:
    assert expected in error_of(with_(**changes))


def test_multi_objective_config() -> None:
    config = config_from_dict(with_(objectives=[{"name": "asimov_significance"}, {"name": "output_shift"}]))
    assert [o.name for o in config.objective_configs()] == ["asimov_significance", "output_shift"]
    assert [o.name for o in config_from_dict(BASE_CONFIG).objective_configs()] == ["asimov_significance"]


def test_grid_of_the_search_space() -> None:
    space = {
        "n_layers": {"type": "int", "low": 1, "high": 3},
        "units": {"type": "int", "low": 16, "high": 64, "step": 16},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
        "dropout": {"type": "float", "low": 0.0, "high": 0.2, "step": 0.1},
    }
    grid = SearchSpace.from_config(config_from_dict(with_(model={"space": space})).model).grid()
    assert grid["n_layers"] == [1, 2, 3]
    assert grid["units"] == [16, 32, 48, 64]
    assert grid["activation"] == ["relu", "tanh"]
    assert grid["dropout"] == pytest.approx([0.0, 0.1, 0.2])
    no_step = {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}
    with pytest.raises(ConfigError, match=r"model\.space\.learning_rate: the grid sampler needs a 'step'"):
        SearchSpace.from_config(config_from_dict(with_(model={"space": no_step})).model).grid()


def test_enqueued_points_are_checked() -> None:
    space = SearchSpace.from_config(
        config_from_dict(with_(model={"space": {"units": {"type": "int", "low": 8, "high": 64}}})).model
    )
    space.check_point({"units": 32}, "search.enqueue.0")
    with pytest.raises(ConfigError, match=r"search\.enqueue\.0: 'n_layers' is not a searched parameter"):
        space.check_point({"n_layers": 2}, "search.enqueue.0")
    with pytest.raises(ConfigError, match=r"search\.enqueue\.1: units = 128 is outside its search range"):
        space.check_point({"units": 128}, "search.enqueue.1")


def test_pruning_needs_a_single_objective() -> None:
    raw = with_(objectives=[{"name": "bce"}, {"name": "roc_auc"}], search={"pruner": "median"})
    assert "search.pruner: Optuna cannot prune multi-objective studies" in error_of(raw)


def test_the_inference_aware_loss_takes_the_model_of_the_robust_objective() -> None:
    from hepopt.stages.plan import make_plan

    variations = {"jes_up": {"weight": "1.1"}}
    robust = {"name": "robust_significance", "options": {"bins": [0.0, 0.5, 0.8, 1.0], "mc_stat": False}}
    space = {"loss": {"type": "categorical", "choices": ["bce", "inference_aware"]}, "ia_temperature": 0.02}
    plan = make_plan(config_from_dict(with_(variations=variations, objective=robust, model={"space": space})))
    spec = plan.aware_spec()
    assert (spec.bins, spec.mc_stat, spec.variations) == ((0.0, 0.5, 0.8, 1.0), False, None)
    assert "loss" in plan.space.searched
    assert plan.space.fixed["ia_temperature"] == 0.02
    flat = {"name": "robust_significance", "options": {"bins": 6, "binning": "flat_signal"}}
    own = {"inference_aware": {"bins": 4, "variations": ["jes_up"]}}
    assert make_plan(config_from_dict(with_(variations=variations, objective=flat))).aware_spec().bins == 6
    spec = make_plan(config_from_dict(with_(variations=variations, objective=flat, training=own))).aware_spec()
    assert (spec.bins, spec.mc_stat, spec.variations) == (4, True, ("jes_up",))
    assert make_plan(config_from_dict(BASE_CONFIG)).aware_spec().bins == 10


@pytest.mark.parametrize("loss", [{"type": "categorical", "choices": ["bce", "inference_aware"]}, "inference_aware"])
def test_population_based_fine_tuning_refuses_inference_aware_networks(loss: object) -> None:
    from hepopt.stages.plan import make_plan

    raw = with_(model={"space": {"loss": loss}}, finetune={"population": 4})
    with pytest.raises(
        ConfigError, match=r"model.space.loss: population-based fine-tuning trains with the cross-entropy"
    ):
        make_plan(config_from_dict(raw))
    make_plan(config_from_dict(with_(model={"space": {"loss": "bce"}}, finetune={"population": 4})))
