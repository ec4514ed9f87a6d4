"""Every bad input of the data stage gives one clear error naming what and where."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepopt.config import config_from_dict
from hepopt.data.stage import prepare_data
from hepopt.errors import ConfigError, DataError

from conftest import flat_config
from make_files import write_flat, write_truncated

pytestmark = pytest.mark.integration


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return write_flat(tmp_path / "sig.root", 200, 1), write_flat(tmp_path / "bkg.root", 200, 2)


def run(tmp_path: Path, raw: dict) -> None:
    prepare_data(config_from_dict(raw, tmp_path / "hepopt.yaml"), progress=False, use_cache=False)


def test_missing_file(tmp_path: Path, files: tuple[Path, Path]) -> None:
    raw = flat_config(tmp_path / "nope.root", files[1])
    with pytest.raises(DataError, match=r"datasets.sig.files: file '.*nope.root' not found"):
        run(tmp_path, raw)


def test_glob_without_match(tmp_path: Path, files: tuple[Path, Path]) -> None:
    raw = flat_config(files[0], files[1])
    raw["datasets"]["bkg"]["files"] = "ttbar_*.root"
    with pytest.raises(DataError, match=r"datasets.bkg.files: no file matches 'ttbar_\*.root'"):
        run(tmp_path, raw)


def test_missing_tree_lists_the_trees(tmp_path: Path, files: tuple[Path, Path]) -> None:
    raw = flat_config(files[0], files[1])
    raw["datasets"]["sig"]["tree"] = "Evnets"
    with pytest.raises(DataError, match=r"tree 'Evnets' not found in .*sig.root; trees there: \['Events'\]"):
        run(tmp_path, raw)


def test_missing_branch_names_file_and_tree(tmp_path: Path, files: tuple[Path, Path]) -> None:
    raw = flat_config(files[0], files[1], features=["MET_pt", {"lead": "nth(Jet_ptt, 0, fill=-1)"}])
    with pytest.raises(
        DataError, match=r"branch 'Jet_ptt' not found in .*sig.root:Events .*similar: \['Jet_eta', 'Jet_pt'\]"
    ):
        run(tmp_path, raw)


def test_failing_expression_names_feature_and_file(tmp_path: Path, files: tuple[Path, Path]) -> None:
    raw = flat_config(files[0], files[1], features=[{"bad": "nth(MET_pt, 0, fill=-1)"}])
    with pytest.raises(DataError, match=r"features.0 \(bad\): 'nth\(MET_pt, 0, fill=-1\)' failed on .*sig.root:Events"):
        run(tmp_path, raw)


def test_unreduced_jagged_feature(tmp_path: Path, files: tuple[Path, Path]) -> None:
    raw = flat_config(files[0], files[1], features=["Jet_pt"])
    with pytest.raises(DataError, match="feature 'Jet_pt' gives a list per event; reduce it"):
        run(tmp_path, raw)


def test_non_finite_feature(tmp_path: Path, files: tuple[Path, Path]) -> None:
    raw = flat_config(files[0], files[1], features=[{"logmet": "log(MET_pt - 40)"}])
    with pytest.raises(DataError, match=r"feature 'logmet' has \d+ non-finite value\(s\) \(NaN\) in .*sig.root"):
        run(tmp_path, raw)


def test_selection_leaving_no_events(tmp_path: Path, files: tuple[Path, Path]) -> None:
    raw = flat_config(files[0], files[1], selection="MET_pt < 0")
    with pytest.raises(
        DataError, match=r"selection leaves no events in dataset 'sig' \(variation 'nominal', 200 events read"
    ):
        run(tmp_path, raw)


def test_truncated_root_file(tmp_path: Path, files: tuple[Path, Path]) -> None:
    broken = write_truncated(tmp_path / "broken.root", files[0])
    with pytest.raises(DataError, match=r"(cannot open ROOT file|tree 'Events' not found in|processing) .*broken.root"):
        run(tmp_path, flat_config(broken, files[1]))


def test_not_a_root_file(tmp_path: Path, files: tuple[Path, Path]) -> None:
    text = tmp_path / "notes.root"
    text.write_text("not ROOT")
    with pytest.raises(DataError, match=r"cannot open ROOT file .*notes.root"):
        run(tmp_path, flat_config(text, files[1]))


def test_missing_role_is_a_config_error(tmp_path: Path, files: tuple[Path, Path]) -> None:
    raw = flat_config(files[0], files[1])
    raw["datasets"]["bkg"]["role"] = "signal"
    with pytest.raises(ConfigError, match="no dataset with role 'background'"):
        run(tmp_path, raw)


def test_failing_feature_callable(tmp_path: Path, files: tuple[Path, Path]) -> None:
    (tmp_path / "broken_features.py").write_text("def build(events):\n    return {'x': events.NoSuchBranch}\n")
    raw = flat_config(files[0], files[1], features=[{"callable": "broken_features:build"}])
    with pytest.raises(DataError, match=r"feature callable 'broken_features:build' failed on .*sig.root:Events"):
        run(tmp_path, raw)
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module'"):
        run(tmp_path, flat_config(files[0], files[1], features=[{"callable": "no_such_module:f"}]))
