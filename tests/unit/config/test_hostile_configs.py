"""Configs written to hurt: expression and YAML bombs, deep nesting, duplicate keys, binary files,
numbers that are not numbers. Each is one error naming the key (or line), fast, never a hang."""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hepopt.config import config_from_dict, load_config
from hepopt.errors import ConfigError

BASE: dict[str, Any] = {
    "datasets": {"s": {"files": "s.root", "role": "signal"}, "b": {"files": "b.root", "role": "background"}},
    "features": ["MET_pt"],
}


def config(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"selection": "num(Jet_pt) >= 10**10**10"}, "selection: 'num(Jet_pt) >= 10**10**10': exponent 1e+10 is out of range"),
        ({"selection": "9**9**9 > MET_pt"}, "selection: '9**9**9 > MET_pt': exponent 3.8742e+08 is out of range"),
        ({"features": ["(MET_pt,)*10**8"]}, "a tuple is only allowed inside [...], e.g. Jet_pt[:, 0]"),
        ({"features": [{"deep": "-" * 3000 + "MET_pt"}]}, "features.0 (deep): "),
        ({"features": [{"deep": "(" * 1500 + "MET_pt" + ")" * 1500}]}, "features.0 (deep): "),
        ({"features": [{"wide": "+".join(["MET_pt"] * 300)}]}, "nested more than 100 levels deep"),
        ({"features": [{"shift": "MET_pt << 3"}]}, "features.0 (shift): 'MET_pt << 3': operator '<<' is not allowed"),
        ({"features": [{"div": "MET_pt + 1/0"}]}, "the constant 1 / 0 cannot be computed (division by zero)"),
        ({"datasets": {**BASE["datasets"], "b": {"files": "b.root", "role": "background", "weight": "2**4096"}}},
         "datasets.b.weight: '2**4096': exponent 4096 is out of range"),
    ],
)  # fmt: skip
def test_expression_bombs_are_refused_when_the_config_is_read(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(config(**changes), source="bomb.yaml")
    text = str(caught.value)
    assert text.startswith("bomb.yaml: ")
    assert expected in text
    assert "\n" not in text
    assert len(text) < 400


def test_ordinary_expressions_still_pass() -> None:
    features = ["MET_pt**2", {"lead": "nth(Jet_pt, 0, fill=-1)"}, {"ht": "sum(Jet_pt[abs(Jet_eta) < 2.4])"}]
    parsed = config_from_dict(config(features=features, selection="(MET_pt > 20) & (num(Jet_pt) >= 2)"))
    assert len(parsed.features) == 3


BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    + ["seed: *i"]
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BILLION_LAUGHS, "refused at line 6, column 4: more than 100000 values once its aliases (*name) are expanded"),
        ("x: &x 1\n" + "\n".join(f"k{i}: *x" for i in range(150)), "more than 100 aliases (*name): refused"),
        ("seed: " + "[" * 200 + "]" * 200, "nested more than 50 levels deep"),
        ("name: a\nseed: 1\nfeatures: [x]\nseed: 2\n", "refused at line 4, column 1: key 'seed' is given twice (lines 2 and 4); keep one"),
        ("datasets:\n  s: {files: a.root, role: signal}\n  s: {files: b.root, role: signal}\n", "key 's' is given twice (lines 2 and 3)"),
    ],
)  # fmt: skip
def test_yaml_bombs_and_duplicate_keys_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "hepopt.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_a_bomb_through_the_cli_ends_within_seconds(tmp_path: Path) -> None:
    """In a real process with a timeout: before the fix, this file took 1.5 GB and never ended."""
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    done = subprocess.run(
        [sys.executable, "-m", "hepopt.cli", "optimize", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"hepopt: error: {path}: refused at line 6")


def test_a_binary_config_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\x00")
    with pytest.raises(
        ConfigError, match=r"model.pt: not a text file in UTF-8 \(byte 11, line 1\); is this the config\?"
    ):
        load_config(path)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"model": {"space": {"learning_rate": float("inf")}}}, "model.space.learning_rate: Input should be a finite number (got inf)"),
        ({"model": {"space": {"learning_rate": {"type": "float", "low": 1e-4, "high": float("inf")}}}},
         "model.space.learning_rate.high: Input should be a finite number (got inf)"),
        ({"luminosity": float("nan")}, "luminosity: Input should be a finite number (got nan)"),
        ({"model": {"space": {"units": [1, 2]}}}, "model.space.units: expected a mapping of settings, a number, a string or true or false (got [1, 2])"),
        ({"model": {"space": {"units": {"type": "int", "low": "a", "high": 3}}}}, "model.space.units.low: Input should be a valid number, unable to parse string as a number (got 'a')"),
    ],
)  # fmt: skip
def test_numbers_are_finite_and_keys_are_the_configs_own(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(config(**changes), source="c.yaml")
    text = str(caught.value)
    assert text == f"c.yaml: {expected}"
    assert "function-after" not in text
    assert "ParamSpec" not in text


def test_a_fixed_learning_rate_of_inf_is_refused_by_the_training_too() -> None:
    from hepopt.models.params import TrainParams

    with pytest.raises(ValueError, match="invalid value inf for 'learning_rate'"):
        TrainParams.from_mapping({"learning_rate": float("inf")})


def test_yaml_inf_in_a_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "hepopt.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            datasets:
              s: {files: s.root, role: signal}
              b: {files: b.root, role: background}
            features: [MET_pt]
            model:
              space:
                learning_rate: .inf
            """
        )
    )
    with pytest.raises(ConfigError, match=r"model.space.learning_rate: Input should be a finite number \(got inf\)$"):
        load_config(path)
