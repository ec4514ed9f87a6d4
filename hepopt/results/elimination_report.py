"""What the elimination leaves for people: per-iteration ranking and metric tables (CSV) and a
plot of the metric against the number of variables."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from hepopt.elimination.backward import EliminationResult
from hepopt.results.plots import figures, save_figure, styled


def write_report(result: EliminationResult, out: Path, title: str = "") -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "ranking": out / "ranking.csv",
        "iterations": out / "iterations.csv",
        "plot": out / "metric_vs_variables.png",
    }
    with files["ranking"].open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "iteration",
                "n_variables",
                "method",
                "rank",
                "unit",
                "variables",
                "importance",
                "std",
                "stderr",
                "n",
                "dropped",
            ]
        )
        for it in result.iterations:
            for rank, imp in enumerate(it.importances, start=1):
                writer.writerow(
                    [it.index, len(it.variables), it.method, rank, imp.unit, " ".join(imp.variables),
                     imp.mean, imp.std, imp.stderr, imp.n, imp.unit in it.dropped]
                )  # fmt: skip
    with files["iterations"].open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["iteration", "n_variables", "metric", "metric_std", "test_metric", "within_tolerance", "method",
             "dropped", "selected"]
        )  # fmt: skip
        for it in result.iterations:
            writer.writerow(
                [it.index, len(it.variables), it.metric, it.metric_std, it.test_metric, it.within_tolerance,
                 it.method or "", " ".join(it.dropped), it.index == result.selected_iteration]
            )  # fmt: skip
    metric_plot(result, files["plot"], title)
    if result.iterations[0].importances:  # none when nothing could be dropped
        files["ranking_plot"] = out / "ranking.png"
        ranking_plot(result, files["ranking_plot"], title)
    return files


@styled
def ranking_plot(result: EliminationResult, path: Path, title: str = "") -> None:
    """Every variable's (or group's) importance in the first iteration, with all variables in,
    ± its standard error; the ones the selection keeps in colour."""
    plt = figures()
    first = result.iterations[0]
    kept = set(result.selected)
    ordered = sorted(first.importances, key=lambda imp: imp.mean)
    fig, ax = plt.subplots(figsize=(9, max(5.0, 0.45 * len(ordered) + 2)))
    colours = ["tab:blue" if set(imp.variables) <= kept else "tab:grey" for imp in ordered]
    errors = [0.0 if math.isnan(imp.stderr) else imp.stderr for imp in ordered]
    ax.barh([imp.unit for imp in ordered], [imp.mean for imp in ordered], xerr=errors, color=colours)
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_xlabel(f"importance ({first.method}, all variables): loss of {result.objective}")
    ax.set_title(f"{title + ': ' if title else ''}blue = kept", fontsize=14)
    save_figure(fig, path)


@styled
def metric_plot(result: EliminationResult, path: Path, title: str = "") -> None:
    """The reference metric (mean ± spread over folds and seeds) per number of variables, the
    baseline and the tolerance band, the selected set circled."""
    plt = figures()
    fig, ax = plt.subplots(figsize=(9, 7))
    n = [len(it.variables) for it in result.iterations]
    metric = [it.metric for it in result.iterations]
    spread = [0.0 if math.isnan(it.metric_std) else it.metric_std for it in result.iterations]
    ax.errorbar(n, metric, yerr=spread, marker="o", color="tab:blue", label="validation (chooses)")
    ax.plot(n, [it.test_metric for it in result.iterations], marker="s", color="tab:orange", label="test (reported)")
    ax.axhline(result.baseline, color="black", linestyle="--", label="all variables")
    low, high = sorted((result.baseline, result.threshold))
    ax.axhspan(low, high, color="tab:green", alpha=0.15, label="tolerance")
    chosen = result.iterations[result.selected_iteration]
    ax.plot([len(chosen.variables)], [chosen.metric], marker="o", markersize=18, fillstyle="none", color="tab:red",
            linestyle="none", label=f"selected: {len(chosen.variables)} variables")  # fmt: skip
    ax.set_xlabel("number of input variables")
    ax.set_ylabel(result.objective)
    ax.invert_xaxis()  # elimination runs left to right
    ax.legend(fontsize=14)
    if title:
        ax.set_title(title, fontsize=16)
    save_figure(fig, path)
