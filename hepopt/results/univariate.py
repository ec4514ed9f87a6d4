"""Each input variable on its own, before any training, as physicists look first: how well it
separates signal from background (TMVA's separation power and the ROC AUC of a cut on it alone),
on the nominal events with their physics weights (|w|)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from hepopt.data.table import EventTable
from hepopt.results.plots import figures, save_figure, styled
from hepopt.stats.figures_of_merit import shape_separation
from hepopt.stats.metrics import weighted_roc_auc

BINS = 40


def variable_separation(values: np.ndarray, labels: np.ndarray, weights: np.ndarray, bins: int = BINS) -> float:
    """½ sum (s - b)^2 / (s + b) of the unit-normalised shapes in ``bins`` equal bins between the
    0.5 % and 99.5 % quantiles of both classes (outside: the outer bins); 0 for a constant."""
    low, high = np.quantile(values, [0.005, 0.995])
    if not high > low:
        return 0.0
    edges = np.linspace(low, high, bins + 1)
    clipped = np.clip(values, low, high)
    s = np.histogram(clipped[labels == 1], edges, weights=weights[labels == 1])[0]
    b = np.histogram(clipped[labels == 0], edges, weights=weights[labels == 0])[0]
    return shape_separation(s, b)


def univariate_ranking(table: EventTable) -> list[dict[str, float | str]]:
    """Per variable: separation, ROC AUC of the variable as a score (>= 0.5: a cut in the better
    direction), signal and background means; most separating first."""
    nominal = table.nominal()
    labels, weights = nominal.label, np.abs(nominal.weight)
    rows: list[dict[str, float | str]] = []
    for i, name in enumerate(table.feature_names):
        x = nominal.features[:, i].astype(np.float64)
        auc = weighted_roc_auc(x, labels, weights)
        signal, background = labels == 1, labels == 0
        rows.append(
            {
                "variable": name,
                "separation": variable_separation(x, labels, weights),
                "roc_auc": max(auc, 1.0 - auc),
                "signal_mean": float(np.average(x[signal], weights=weights[signal])),
                "background_mean": float(np.average(x[background], weights=weights[background])),
            }
        )
    return sorted(rows, key=lambda r: -float(r["separation"]))


@styled
def write_univariate(table: EventTable, folder: Path, title: str = "") -> dict[str, Path]:
    """``variables.csv`` and ``variables.png`` (separation per variable) in ``folder``."""
    rows = univariate_ranking(table)
    files = {"variables_csv": folder / "variables.csv", "variables_plot": folder / "variables.png"}
    with files["variables_csv"].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plt = figures()
    ordered = rows[::-1]
    fig, ax = plt.subplots(figsize=(9, max(5.0, 0.45 * len(rows) + 2)))
    ax.barh([str(r["variable"]) for r in ordered], [float(r["separation"]) for r in ordered], color="tab:blue")
    ax.set_xlabel("separation power, each variable alone")
    if title:
        ax.set_title(title, fontsize=16)
    save_figure(fig, files["variables_plot"])
    return files
