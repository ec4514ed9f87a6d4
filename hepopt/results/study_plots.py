"""Plots of the search itself: what was tried, what mattered, where the best trials lie.

Each takes the study's completed trials (Optuna ``FrozenTrial``) and writes a PNG (diagnostics to
look at, not paper figures: no PDF, which would double their cost in every run); none needs more
than matplotlib and mplhep (no plotly, no scikit-learn).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hepopt.results.plots import figures, save_figure, styled

if TYPE_CHECKING:
    import optuna

MIN_TRIALS_FOR_IMPORTANCES = 5


@styled
def history_plot(
    trials: Sequence[optuna.trial.FrozenTrial], name: str, direction: str, path: Path, title: str = ""
) -> None:
    """The first objective of every completed trial against its number, and the best so far."""
    plt = figures()
    fig, ax = plt.subplots(figsize=(9, 7))
    numbers = np.array([t.number for t in trials])
    values = np.array([t.values[0] for t in trials])
    running = np.maximum.accumulate(values) if direction == "maximize" else np.minimum.accumulate(values)
    ax.plot(numbers, values, "o", color="tab:blue", alpha=0.7, label="trial")
    ax.step(numbers, running, where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{name} (validation)")
    ax.legend(fontsize=14)
    if title:
        ax.set_title(title, fontsize=16)
    save_figure(fig, path, pdf=False)


def param_importances(study: optuna.Study, direction: str = "maximize") -> dict[str, float]:
    """Share of the first objective's variation explained by each searched hyperparameter
    (Optuna's PED-ANOVA: what separates the best trials from the rest; no extra dependency);
    empty below :data:`MIN_TRIALS_FOR_IMPORTANCES` completed trials."""
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) < MIN_TRIALS_FOR_IMPORTANCES or not any(t.params for t in done):
        return {}
    sign = -1.0 if direction == "maximize" else 1.0  # PED-ANOVA looks for low target values
    try:
        with warnings.catch_warnings():  # "computes the importances ... to achieve low values": the sign does that
            warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes", category=UserWarning)
            return optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(), target=lambda t: sign * t.values[0]
            )
    except (ValueError, RuntimeError, ZeroDivisionError):  # e.g. nothing varied
        return {}


@styled
def importance_plot(importances: dict[str, float], name: str, path: Path, title: str = "") -> None:
    """Horizontal bars of :func:`param_importances`, most important on top."""
    plt = figures()
    ordered = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(9, max(4.0, 0.6 * len(ordered) + 2)))
    ax.barh([k for k, _ in ordered], [v for _, v in ordered], color="tab:blue")
    ax.set_xlabel(f"importance for {name} (PED-ANOVA)")
    if title:
        ax.set_title(title, fontsize=16)
    save_figure(fig, path, pdf=False)


def _axis_values(trials: Sequence[optuna.trial.FrozenTrial], param: str) -> tuple[np.ndarray, list[str] | None, bool]:
    """A parameter's values as numbers (categories as their index), its category labels, whether
    it was searched on a log scale; trials without the parameter give NaN."""
    import optuna

    distribution = next(t.distributions[param] for t in trials if param in t.distributions)
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        choices = [str(c) for c in distribution.choices]
        values = [choices.index(str(t.params[param])) if param in t.params else math.nan for t in trials]
        return np.array(values, dtype=float), choices, False
    log = bool(getattr(distribution, "log", False))
    return np.array([t.params.get(param, math.nan) for t in trials], dtype=float), None, log


@styled
def parallel_coordinates_plot(
    trials: Sequence[optuna.trial.FrozenTrial], name: str, direction: str, path: Path, title: str = ""
) -> None:
    """One line per trial through every searched hyperparameter (each axis scaled to its range,
    log axes in log), coloured by the first objective (yellow: best); the best drawn on top."""
    plt = figures()
    params = sorted({p for t in trials for p in t.params})
    values = np.array([t.values[0] for t in trials])
    columns, labels = [], []
    for param in params:
        raw, choices, log = _axis_values(trials, param)
        x = np.log10(raw) if log else raw
        low, high = np.nanmin(x), np.nanmax(x)
        columns.append((x - low) / (high - low) if high > low else np.full_like(x, 0.5))
        if choices is not None:
            labels.append(f"{param}\n{'/'.join(choices)}")
        else:
            fmt = (lambda v: f"{10**v:.2g}") if log else (lambda v: f"{v:.3g}")
            labels.append(f"{param}\n{fmt(low)} to {fmt(high)}")
    columns.append((values - values.min()) / (np.ptp(values) or 1.0))
    labels.append(f"{name}\n{values.min():.3g} to {values.max():.3g}")
    grid = np.array(columns).T
    goodness = values if direction == "maximize" else -values
    order = np.argsort(goodness)  # best last, on top
    colours = plt.get_cmap("viridis")((goodness - goodness.min()) / (np.ptp(goodness) or 1.0))  # yellow: best
    fig, ax = plt.subplots(figsize=(max(10.0, 1.6 * len(labels)), 7))
    for i in order:
        ax.plot(range(len(labels)), grid[i], color=colours[i], alpha=0.8, linewidth=1.5)
    ax.set_xticks(range(len(labels)), labels, fontsize=11)
    ax.set_yticks([0, 1], ["low", "high"])
    ax.set_xlim(-0.2, len(labels) - 0.8)
    if title:
        ax.set_title(title, fontsize=16)
    save_figure(fig, path, pdf=False)


@styled
def slice_plot(trials: Sequence[optuna.trial.FrozenTrial], name: str, path: Path, title: str = "") -> None:
    """The first objective against each searched hyperparameter, one panel each."""
    plt = figures()
    params = sorted({p for t in trials for p in t.params})
    values = np.array([t.values[0] for t in trials])
    columns = min(3, len(params))
    rows = math.ceil(len(params) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 5 * rows), squeeze=False)
    for ax, param in zip(axes.flat, params, strict=False):
        x, choices, log = _axis_values(trials, param)
        ax.scatter(x, values, c=[t.number for t in trials], cmap="viridis", s=30)
        if choices is not None:
            ax.set_xticks(range(len(choices)), choices, fontsize=11)
        elif log:
            ax.set_xscale("log")
        ax.set_xlabel(param, fontsize=14)
        ax.set_ylabel(name, fontsize=14)
    for ax in list(axes.flat)[len(params) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=16)
    save_figure(fig, path, pdf=False)


@styled
def pareto_plot(
    trials: Sequence[optuna.trial.FrozenTrial],
    front: Sequence[optuna.trial.FrozenTrial],
    names: Sequence[str],
    path: Path,
    title: str = "",
) -> None:
    """The first two objectives of every trial, the Pareto front joined and highlighted."""
    plt = figures()
    fig, ax = plt.subplots(figsize=(9, 7))
    ax.scatter([t.values[0] for t in trials], [t.values[1] for t in trials], color="tab:blue", alpha=0.5, label="trial")
    ordered = sorted(front, key=lambda t: t.values[0])
    ax.plot([t.values[0] for t in ordered], [t.values[1] for t in ordered], "o-", color="tab:red", label="Pareto front")
    for t in ordered:
        ax.annotate(str(t.number), (t.values[0], t.values[1]), textcoords="offset points", xytext=(5, 5), fontsize=11)
    ax.set_xlabel(f"{names[0]} (validation)")
    ax.set_ylabel(f"{names[1]} (validation)")
    ax.legend(fontsize=14)
    if title:
        ax.set_title(title, fontsize=16)
    save_figure(fig, path, pdf=False)


def write_study_plots(
    study: optuna.Study,
    trials: Sequence[optuna.trial.FrozenTrial],
    front: Sequence[optuna.trial.FrozenTrial],
    names: Sequence[str],
    directions: Sequence[str],
    folder: Path,
    title: str = "",
) -> tuple[dict[str, Path], dict[str, float]]:
    """History, importances, parallel coordinates and slices of the first objective (and the
    Pareto front of a multi-objective study) in ``folder``; the files written and the importances."""
    trials = sorted(trials, key=lambda t: t.number)
    files = {"history_plot": folder / "history.png"}
    history_plot(trials, names[0], directions[0], files["history_plot"], title)
    importances = param_importances(study, directions[0])
    if importances:
        files["importance_plot"] = folder / "importances.png"
        importance_plot(importances, names[0], files["importance_plot"], title)
    if any(t.params for t in trials):
        files["parallel_plot"] = folder / "parallel_coordinates.png"
        parallel_coordinates_plot(trials, names[0], directions[0], files["parallel_plot"], title)
        files["slice_plot"] = folder / "slices.png"
        slice_plot(trials, names[0], files["slice_plot"], title)
    if len(names) > 1:
        files["pareto_plot"] = folder / "pareto_front.png"
        pareto_plot(trials, front, names, files["pareto_plot"], title)
    return files, importances
