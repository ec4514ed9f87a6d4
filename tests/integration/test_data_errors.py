"""Every bad input of the data stage gives one clear error naming what and where."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from hepopt.config import config_from_dict
from hepopt.data.stage import prepare_data
from hepopt.errors import ConfigError, DataError

from helpers import flat_config, write_flat, write_truncated

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each


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
    with pytest.raises(
        DataError, match=r"broken.root(:Events)?: cannot read (the file|tree 'Events') \(damaged or truncated"
    ):
        run(tmp_path, flat_config(broken, files[1]))


def test_a_root_file_cut_short_is_one_line_naming_it_not_the_output(tmp_path: Path, files: tuple[Path, Path]) -> None:
    """Cut where its tree's header is (it opens, the tree does not read) or inside its baskets
    (the tree opens, its events do not read): in a real process, one line naming the file."""
    from helpers import hepopt

    data = files[1].read_bytes()
    for cut, expected in ((3000, "cannot read tree 'Events' (damaged or truncated file?)"),
                          (len(data) // 2, "cannot read the file (damaged or truncated?)")):  # fmt: skip
        broken = tmp_path / f"cut_{cut}.root"
        broken.write_bytes(data[:cut])
        path = tmp_path / f"cut_{cut}.yaml"
        path.write_text(yaml.safe_dump(flat_config(files[0], broken)))
        done = hepopt("optimize", str(path), "--quiet")
        assert done.returncode == 1
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"hepopt: error: {broken}"), line
        assert expected in line, line
        assert "results" not in line


def test_paths_with_non_ascii_characters_are_read(tmp_path: Path, files: tuple[Path, Path]) -> None:
    """coffea hashes file names as ASCII; hepopt reads /home/müller/... through ASCII links."""
    odd = tmp_path / "müller" / "données"
    odd.mkdir(parents=True)
    copies = [odd / f"ß_{p.name}" for p in files]
    for source, copy in zip(files, copies, strict=True):
        copy.write_bytes(source.read_bytes())
    plain = prepare_data(config_from_dict(flat_config(*files), tmp_path / "a.yaml"), progress=False, use_cache=False)
    accented = prepare_data(config_from_dict(flat_config(*copies), odd / "b.yaml"), progress=False, use_cache=False)
    np.testing.assert_array_equal(accented.features, plain.features)
    np.testing.assert_array_equal(accented.event_id, plain.event_id)
    np.testing.assert_array_equal(accented.weight, plain.weight)
    assert not list(Path(tempfile.gettempdir()).glob("hepopt-links-*"))  # the links are gone


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
