"""A coffea fileset (dict, JSON or YAML file) as the config's source of files and metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hepopt.config import config_from_dict, load_config
from hepopt.errors import ConfigError

FILESET = {
    "zprime": {"files": {"sig/z.root": "Events"}, "metadata": {"xsec": 2.0, "role": "signal"}},
    "ttbar": {"files": {"bkg/tt_1.root": "Events", "bkg/tt_2.root": "Events"}, "metadata": {"xsec": 831.8}},
    "ttbar_jes_up": {"files": ["bkg/tt_up.root"], "treename": "Events", "metadata": {"dataset": "ttbar", "variation": "jes_up"}},
    "SingleMuon": {"files": {"data.root": "Events"}, "metadata": {"isData": True}},
}  # fmt: skip
CONFIG = {
    "luminosity": 1000.0,
    "fileset": "fileset.json",
    "datasets": {"ttbar": {"role": "background", "weight": "genWeight"}},
    "features": ["MET_pt"],
}


def test_a_fileset_file_fills_datasets_and_variations(tmp_path: Path) -> None:
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "fileset.json").write_text(json.dumps(FILESET))
    config = config_from_dict(dict(CONFIG, fileset="inputs/fileset.json"), tmp_path / "hepopt.yaml")
    assert set(config.datasets) == {"zprime", "ttbar"}  # the data entry is skipped
    ttbar = config.datasets["ttbar"]
    assert ttbar.files == [str(tmp_path / "inputs" / "bkg" / f"tt_{i}.root") for i in (1, 2)]  # beside the fileset
    assert (ttbar.cross_section, ttbar.role, ttbar.weight, ttbar.tree) == (831.8, "background", "genWeight", "Events")
    assert config.datasets["zprime"].role == "signal"
    varied = config.variations["jes_up"].datasets
    assert varied is not None
    assert varied["ttbar"].files == [str(tmp_path / "inputs" / "bkg" / "tt_up.root")]


def test_the_config_overrides_the_metadata_and_yaml_works(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "fileset.yaml").write_text(yaml.safe_dump(FILESET))
    raw = dict(CONFIG, fileset="fileset.yaml", datasets={"ttbar": {"role": "background", "cross_section": 900.0}})
    assert config_from_dict(raw, tmp_path / "hepopt.yaml").datasets["ttbar"].cross_section == 900.0


def test_load_config_takes_the_fileset_dict_in_python(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "hepopt.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in CONFIG.items() if k != "fileset"}))
    config = load_config(path, fileset=FILESET)
    assert config.datasets["zprime"].files == [str(tmp_path / "sig" / "z.root")]  # inline: the config's folder


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ttbar": {"files": {"a.root": "Events", "b.root": "Delphes"}}}, r"entry 'ttbar': its files name different trees \['Delphes', 'Events'\]"),
        ({"ttbar": {"files": 5}}, "entry 'ttbar': 'files' must be"),
        ({"ttbar": ["a.root"]}, r"entry 'ttbar': expected \{files, metadata\}"),
    ],
)  # fmt: skip
def test_bad_entries_are_named(tmp_path: Path, change: dict, message: str) -> None:
    (tmp_path / "fileset.json").write_text(json.dumps(FILESET | change))
    with pytest.raises(ConfigError, match=message):
        config_from_dict(CONFIG, tmp_path / "hepopt.yaml")


def test_missing_role_and_unreadable_fileset(tmp_path: Path) -> None:
    (tmp_path / "fileset.json").write_text(json.dumps(FILESET))
    with pytest.raises(ConfigError, match=r"datasets.ttbar.role: Field required"):
        config_from_dict({k: v for k, v in CONFIG.items() if k != "datasets"}, tmp_path / "hepopt.yaml")
    (tmp_path / "fileset.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"fileset .*fileset.json: not valid JSON"):
        config_from_dict(CONFIG, tmp_path / "hepopt.yaml")
    with pytest.raises(ConfigError, match=r"fileset .*missing.json: cannot read it"):
        config_from_dict(dict(CONFIG, fileset="missing.json"), tmp_path / "hepopt.yaml")
