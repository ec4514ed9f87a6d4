"""What people look at after ``hepopt optimize``: the plots, the HTML report (opened in a real
headless chromium), the log file, and the study in optuna-dashboard."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import optuna
import pytest

from hepopt.results.report import write_report

from helpers import analysis_config, hepopt, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ROOT files, coffea, trainings: seconds each
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def run_dir(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    write_config(folder, analysis_config(samples_dir, name="report_test", seed=5))
    done = hepopt("optimize", str(folder / "hepopt.yaml"), "--n-trials", "5", "--quiet")
    assert done.returncode == 0, done.stderr
    made = hepopt("report", str(folder / "results"))
    assert made.returncode == 0, made.stderr
    assert f"report written to {folder / 'results' / 'report.html'}" in made.stdout
    return folder


class Tables(HTMLParser):
    """Every table of a page as rows of cell texts, and each row's class."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[tuple[str, list[str]]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append((dict(attrs).get("class") or "", []))
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1][1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_search_plots_and_importances(run_dir: Path) -> None:
    plots = run_dir / "results" / "optimize" / "plots"
    expected = {
        "history",
        "importances",
        "parallel_coordinates",
        "slices",
        "roc_test",
        "overtraining_best",
        "variations_best",
    }
    assert {p.stem for p in plots.glob("*.png")} == expected
    assert {p.stem for p in plots.glob("*.pdf")} == {
        "roc_test",
        "overtraining_best",
        "variations_best",
    }  # paper figures
    summary = json.loads((run_dir / "results" / "optimize" / "summary.json").read_text())
    searched = set(analysis_config(Path("x"))["model"]["space"]) - {"max_epochs", "patience"}
    assert set(summary["importances"]) == searched
    assert sum(summary["importances"].values()) == pytest.approx(1.0)


def test_report_tables_match_the_study(run_dir: Path) -> None:
    page = (run_dir / "results" / "report.html").read_text()
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page  # self-contained and inert
    parser = Tables()
    parser.feed(page)
    stages = {row[0]: row[1] for _, row in parser.tables[0][1:]}
    assert stages == {"prepare": "done", "optimize": "done", "export": "done"}
    variables = [row[0] for _, row in parser.tables[1][1:]]  # each variable alone, best first
    assert len(variables) == len(analysis_config(Path("x"))["features"])
    summary = json.loads((run_dir / "results" / "optimize" / "summary.json").read_text())
    # The yields of each dataset (the table's own numbers) and the config the run was made with.
    yields = {row[0]: row[1:] for _, row in parser.tables[2][1:]}
    for name, y in summary["yields"].items():
        assert yields[name] == [str(y["events"]), f"{y['yield']:.4g}"]
    assert "<h2>Config</h2>" in page
    assert "name: report_test" in page
    best_rows = [row for table in parser.tables for cls, row in table if cls == "best"]
    value, error = summary["best"]["validation"][0], summary["best"]["validation_error"][0]
    decimals = max(0, 1 - math.floor(math.log10(error)))  # the error to two significant digits
    shown = f"{value:.{decimals}f} ± {error:.{decimals}f}"
    assert best_rows[0][:3] == ["best", str(summary["best"]["number"]), shown]
    # The top-trials table: completed trials, best first, as the study in SQLite has them.
    storage = f"sqlite:///{run_dir / 'results' / 'optimize' / 'study.db'}"
    trials = optuna.load_study(study_name="report_test", storage=storage).get_trials(
        states=(optuna.trial.TrialState.COMPLETE,)
    )
    top = next(table for table in parser.tables if table[0][1][:2] == ["number", "value"])
    assert [int(row[0]) for _, row in top[1:]] == [t.number for t in sorted(trials, key=lambda t: -t.value)]
    assert [float(row[1]) for _, row in top[1:]] == pytest.approx(
        sorted((t.value for t in trials), reverse=True), rel=1e-3
    )


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (.ci/run installs them)"
)
def test_report_renders_in_headless_chromium(run_dir: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):  # fmt: skip
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp()}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get((run_dir / "results" / "report.html").as_uri())
        assert driver.title == "hepopt report: results"
        widths = driver.execute_script("return [...document.images].map(i => i.complete ? i.naturalWidth : 0)")
        pngs = [
            *(run_dir / "results" / "optimize" / "plots").glob("*.png"),
            *(run_dir / "results" / "prepare" / name for name in ("variables.png", "inputs.png", "correlations.png")),
        ]
        assert len(widths) == len(pngs)
        assert all(w > 100 for w in widths)  # every embedded picture decoded
        logs = driver.get_log("browser")
        assert not [entry for entry in logs if entry["level"] in ("SEVERE", "WARNING")], logs
    finally:
        driver.quit()


def test_the_log_file_tells_the_story(run_dir: Path) -> None:
    log = (run_dir / "results" / "hepopt.log").read_text()
    assert "stage prepare: started" in log
    assert "stage optimize: done" in log
    assert "Trial 4 finished with value" in log  # Optuna's own lines, kept off the terminal


def test_report_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    done = hepopt("report", str(tmp_path))
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"hepopt: error: {tmp_path}: not a hepopt output folder (expected <stage>/manifest.json, e.g. optimize/manifest.json)"
    )


def test_names_from_the_folder_are_escaped(tmp_path: Path) -> None:
    """A stage folder's name or a manifest's values are text in the page, never markup."""
    hostile = tmp_path / "<img src=x onerror=alert(1)>"
    hostile.mkdir()
    (hostile / "manifest.json").write_text(json.dumps({"state": "<script>alert(2)</script>", "seconds": "<b>"}))
    path = write_report(tmp_path)
    page = path.read_text()
    assert "<img src=x" not in page
    assert "<script>" not in page
    assert "<b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_serves_the_study_on_loopback(run_dir: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "hepopt.cli", "dashboard", str(run_dir / "results"), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, studies = time.monotonic() + 60, None
        while studies is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    studies = json.loads(response.read())
            except OSError:
                time.sleep(0.3)
        assert studies is not None, server.stderr.read() if server.poll() is not None else "no answer"
        (study,) = studies["study_summaries"]
        assert study["study_name"] == "report_test"
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"optuna-dashboard on http://127.0.0.1:{port}/" in out
