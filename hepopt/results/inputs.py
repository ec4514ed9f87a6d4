"""The input variables as an analyst checks them before training: each one's distribution for
signal and background (unit-normalised, physics weights |w|), and their linear correlations per
class, on the nominal events."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from hepopt.data.table import EventTable
from hepopt.results.plots import figures, save_figure, styled

BINS = 40
COLUMNS = 4


def weighted_correlation(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix of the columns of ``x`` with event weights (a constant column: 0)."""
    w = weights / weights.sum()
    centred = x - w @ x
    covariance = (centred * w[:, None]).T @ centred
    scale = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    # A constant column (up to rounding: its spread is ~1e-16 of its value) correlates with nothing.
    constant = scale <= 1e-12 * np.maximum(np.abs(w @ x), 1.0)
    scale = np.where(constant, np.inf, scale)
    correlation = covariance / np.outer(scale, scale)
    np.fill_diagonal(correlation, 1.0)
    return correlation


@styled
def write_input_plots(table: EventTable, folder: Path, title: str = "") -> dict[str, Path]:
    """``inputs.png`` (each variable, signal vs. background), ``correlations.png`` and
    ``correlations.csv`` (per class) in ``folder``."""
    nominal = table.nominal()
    x = nominal.features.astype(np.float64)
    weights = np.abs(nominal.weight)
    signal = nominal.label == 1
    files = {
        "inputs_plot": folder / "inputs.png",
        "correlations_plot": folder / "correlations.png",
        "correlations_csv": folder / "correlations.csv",
    }
    _distributions(x, signal, weights, table.feature_names, files["inputs_plot"], title)
    matrices = {
        "signal": weighted_correlation(x[signal], weights[signal]),
        "background": weighted_correlation(x[~signal], weights[~signal]),
    }
    _correlations(matrices, table.feature_names, files["correlations_plot"], title)
    with files["correlations_csv"].open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class", "variable", *table.feature_names])
        for cls, matrix in matrices.items():
            for name, row in zip(table.feature_names, matrix, strict=True):
                writer.writerow([cls, name, *(f"{v:.6g}" for v in row)])
    return files


def _distributions(
    x: np.ndarray, signal: np.ndarray, weights: np.ndarray, names: tuple[str, ...], path: Path, title: str
) -> None:
    plt = figures()
    rows = math.ceil(len(names) / COLUMNS)
    fig, axes = plt.subplots(rows, COLUMNS, figsize=(4.5 * COLUMNS, 3.6 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(names):
            ax.set_visible(False)
            continue
        values = x[:, i]
        low, high = np.quantile(values, [0.005, 0.995])
        edges = np.linspace(low, high if high > low else low + 1.0, BINS + 1)
        for mask, label, colour in ((~signal, "background", "tab:blue"), (signal, "signal", "tab:red")):
            counts = np.histogram(np.clip(values[mask], edges[0], edges[-1]), edges, weights=weights[mask])[0]
            total = counts.sum()
            ax.stairs(counts / total if total > 0 else counts, edges, color=colour, label=label, linewidth=1.5)
        ax.set_xlabel(names[i], fontsize=12)
        ax.tick_params(labelsize=10)
        if i == 0:
            ax.legend(fontsize=10)
    if title:
        fig.suptitle(f"{title}: input variables (unit area, |w|)", fontsize=16)
    save_figure(fig, path)


def _correlations(matrices: dict[str, np.ndarray], names: tuple[str, ...], path: Path, title: str) -> None:
    plt = figures()
    size = max(6.0, 0.5 * len(names) + 3)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size, size))
    for ax, (cls, matrix) in zip(axes, matrices.items(), strict=True):
        image = ax.imshow(matrix, vmin=-1, vmax=1, cmap=plt.get_cmap("RdBu_r"))
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=9)
        ax.set_yticks(range(len(names)), names, fontsize=9)
        ax.set_title(f"{cls}: linear correlation", fontsize=14)
        if len(names) <= 12:
            for (i, j), value in np.ndenumerate(matrix):
                ax.text(j, i, f"{100 * value:.0f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=list(axes), shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=16)
    save_figure(fig, path)
