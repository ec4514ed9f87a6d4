"""Heavy dependencies are extras: without one, the feature that needs it says which extra to
install, in one line, before any work; the default export leaves ONNX out and says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, flat_config, write_config, write_flat

pytestmark = pytest.mark.integration


def run_without(modules: list[str], args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``hepopt ARGS`` in a process where ``modules`` cannot be imported (as if not installed)."""
    blocked = "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    code = f"import sys\n{blocked}from hepopt.cli import main\nsys.exit(main({args!r}))\n"
    command = [sys.executable, "-c", code]
    return subprocess.run(command, check=False, capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize(
    ("settings", "blocked", "message"),
    [
        ({"search": {"backend": "ray", "n_trials": 1}}, ["ray", "ray.tune"], "search.backend: ray needs Ray (ray.tune is not installed): pip install 'hepopt[ray]'"),
        ({"export": {"formats": ["onnx"]}, "search": {"n_trials": 1}}, ["onnxscript"], "export.formats: onnx needs ONNX export (onnxscript is not installed): pip install 'hepopt[export]'"),
    ],
)  # fmt: skip
def test_a_feature_without_its_extra_is_one_line(
    tmp_path: Path, settings: dict, blocked: list[str], message: str
) -> None:
    sig, bkg = write_flat(tmp_path / "sig.root", n=300, seed=1), write_flat(tmp_path / "bkg.root", n=300, seed=2)
    path = write_config(tmp_path, flat_config(sig, bkg, **settings))
    done = run_without(blocked, ["optimize", str(path), "--quiet"], tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"hepopt: error: {path}: {message}"]
    assert not (tmp_path / "results" / "prepare").exists()  # said before any work


@pytest.mark.slow
def test_a_plain_install_runs_and_exports_torchscript_saying_onnx_was_skipped(tmp_path: Path) -> None:
    sig, bkg = write_flat(tmp_path / "sig.root", n=400, seed=1), write_flat(tmp_path / "bkg.root", n=400, seed=2)
    raw = flat_config(sig, bkg, search={"n_trials": 1, "bootstrap": 0})
    raw["model"] = {"space": {"max_epochs": 2}}
    path = write_config(tmp_path, raw)
    done = run_without(["onnxscript", "ray"], ["optimize", str(path), "--quiet"], tmp_path)  # a plain install
    assert done.returncode == 0, done.stderr
    export = tmp_path / "results" / "export"
    assert (export / "model.torchscript.pt").is_file()
    assert not (export / "model.onnx").exists()
    description = json.loads((export / "model.json").read_text())
    assert description["skipped"] == {"onnx": "onnxscript is not installed: pip install 'hepopt[export]'"}
    assert set(description["files"]) == {"torchscript"}


def test_the_extras_are_declared() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = " ".join(project["dependencies"])
    assert "ray" not in names
    assert "onnx" not in names
    extras = project["optional-dependencies"]
    assert [d.split(">")[0] for d in extras["ray"]] == ["ray[tune]"]
    assert {d.split(">")[0] for d in extras["export"]} == {"onnx", "onnxscript"}
