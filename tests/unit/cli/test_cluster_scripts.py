"""``hepopt cluster-script``: the Slurm and HTCondor launch scripts, checked as rendered (bash
syntax, the scheduler's directives, the one hepopt command they run)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hepopt.cli import main

from helpers import BASE_CONFIG


def render(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    config = tmp_path / "my analysis.yaml"
    config.write_text(yaml.safe_dump(BASE_CONFIG))
    assert main(["cluster-script", str(config), *args]) == 0
    return capsys.readouterr().out


def last_command(script: str) -> list[str]:
    return shlex.split(script.strip().splitlines()[-1])


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize("scheduler", ["slurm", "htcondor"])
def test_scripts_are_valid_bash_and_run_the_config_on_the_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scheduler: str
) -> None:
    script = render(tmp_path, capsys, "--scheduler", scheduler, "--nodes", "3", "--cpus-per-node", "16")
    (tmp_path / "job.sh").write_text(script)
    checked = subprocess.run(["bash", "-n", str(tmp_path / "job.sh")], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    config = str((tmp_path / "my analysis.yaml").resolve())
    assert last_command(script) == ["hepopt", "optimize", config, "--ray-address", "$RAY_ADDRESS"]
    assert "gpu" not in script.lower()
    assert "--include-dashboard=false" in script


def test_slurm_asks_for_the_nodes_and_starts_a_raylet_on_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = render(tmp_path, capsys, "--scheduler", "slurm", "--nodes", "3", "--cpus-per-node", "16",
                    "--gpus-per-node", "2", "--time", "12:00:00", "--port", "6390")  # fmt: skip
    directives = dict(re.findall(r"^#SBATCH --([\w-]+)=(.*)$", script, re.MULTILINE))
    assert directives == {
        "job-name": "hepopt-my_analysis",
        "nodes": "3",
        "ntasks-per-node": "1",
        "cpus-per-task": "16",
        "time": "12:00:00",
        "output": "hepopt-my_analysis-%j.log",
        "gpus-per-task": "2",
    }
    assert 'export RAY_ADDRESS="$head_ip:6390"' in script
    head = script.index("ray start --head")
    workers = script.index('for node in "${nodes[@]:1}"')
    assert head < workers < script.index("hepopt optimize")
    assert script.count("--num-gpus=2") == 2  # head and worker raylets


def test_htcondor_submits_worker_jobs_that_join_the_head(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = render(tmp_path, capsys, "--scheduler", "htcondor", "--nodes", "4", "--cpus-per-node", "6",
                    "--setup", "source /cvmfs/sft.cern.ch/lcg/views/setup.sh")  # fmt: skip
    submit = script.split("<<SUBMIT\n", 1)[1].split("\nSUBMIT\n", 1)[0]
    keys = dict(line.split("=", 1) for line in submit.splitlines() if "=" in line)
    assert {k.strip(): v.strip() for k, v in keys.items()}["request_cpus"] == "6"
    assert submit.splitlines()[-1] == "queue 4"
    worker = script.split("<<WORKER\n", 1)[1].split("\nWORKER\n", 1)[0]
    assert "source /cvmfs/sft.cern.ch/lcg/views/setup.sh" in worker
    assert worker.splitlines()[-1] == "exec ray start --block --address=$RAY_ADDRESS --num-cpus=6"
    assert "condor_rm" in script.split("trap", 1)[1].splitlines()[0]  # the workers go when the search ends


def test_a_broken_config_fails_before_any_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("datasets: {}\n")
    assert main(["cluster-script", str(config), "--scheduler", "slurm"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert str(config) in captured.err


def test_a_wall_time_that_is_not_one_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every value lands in a shell script: a newline in --time would add a line to it."""
    config = tmp_path / "hepopt.yaml"
    config.write_text(yaml.safe_dump(BASE_CONFIG))
    assert main(["cluster-script", str(config), "--scheduler", "slurm", "--time", "04:00:00\n#SBATCH --exclusive"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("hepopt: error: --time: '04:00:00\\n#SBATCH --exclusive' is not a Slurm time")
    for walltime in ("30", "2-00:00:00", "1-12", "UNLIMITED"):
        assert main(["cluster-script", str(config), "--scheduler", "slurm", "--time", walltime]) == 0
        assert f"#SBATCH --time={walltime}\n" in capsys.readouterr().out
