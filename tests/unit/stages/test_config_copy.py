"""``<output>/config.yaml`` is the config a run was made with: the file as written while it still
gives that config, the config as run once it differs (a changed n_trials, a config from Python)."""

from __future__ import annotations

from pathlib import Path

import yaml

from hepopt.config import config_from_dict, load_config
from hepopt.stages.runner import _keep_config

from helpers import BASE_CONFIG


def test_the_copy_is_the_file_or_the_config_as_run(tmp_path: Path) -> None:
    path = tmp_path / "hepopt.yaml"
    path.write_text("# our analysis\n" + yaml.safe_dump(dict(BASE_CONFIG, search={"n_trials": 16})))
    config = load_config(path)
    _keep_config(config)
    copy = config.output_dir / "config.yaml"
    assert copy.read_text() == path.read_text()  # as written, comments kept
    changed = config.model_copy(update={"search": config.search.model_copy(update={"n_trials": 4})})
    _keep_config(changed)
    assert yaml.safe_load(copy.read_text())["search"]["n_trials"] == 4  # what ran, not the file
    in_python = config_from_dict(dict(BASE_CONFIG, name="from_python"), tmp_path / "absent.yaml")
    _keep_config(in_python)
    assert yaml.safe_load(copy.read_text())["name"] == "from_python"
