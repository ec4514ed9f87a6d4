"""The README's examples run as written: its Python session as a doctest (on a copy of the example
analysis with 5 % of its events), its config through the loader."""

from __future__ import annotations

import doctest
import re
import shutil
from pathlib import Path

import pytest
import yaml

from hepopt.config import config_from_dict

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


@pytest.mark.slow
def test_the_python_session_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import load_sample_generator

    analysis = tmp_path / "analyses" / "zprime_ttbar"
    analysis.mkdir(parents=True)
    for name in ("hepopt.yaml", "features.py"):
        shutil.copy(ROOT / "analyses" / "zprime_ttbar" / name, analysis / name)
    load_sample_generator().make_samples(analysis / "samples", scale=0.05, seed=3)
    monkeypatch.chdir(tmp_path)
    (session,) = [b for b in blocks("python") if ">>>" in b]
    test = doctest.DocTestParser().get_doctest(session, {}, "README.md", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert (analysis / "results" / "optimize" / "best_model.pt").is_file()


def test_the_config_is_valid() -> None:
    (config,) = blocks("yaml")
    loaded = config_from_dict(yaml.safe_load(config), "README.md")
    assert loaded.search.n_trials == 16
    assert [kind for kind, _ in loaded.feature_entries()] == ["expr:MET_pt", "expr:lead_jet_pt", "expr:ht"]
