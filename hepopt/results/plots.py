"""Plots people look at first, drawn with hist + mplhep in the experiment's style (CMS by default), as PNG and PDF."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np

from hepopt.stats.metrics import weighted_ks

N_BINS = 25
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class PlotStyle:
    """The experiment's style and label on every plot of a run (``plots`` in the config)."""

    experiment: str = "none"  # CMS, ATLAS, LHCb or none (mplhep's CMS style, no label)
    text: str = "Simulation"
    lumi: float | None = None  # fb^-1
    energy: float | None = None  # TeV

    @classmethod
    def from_config(cls, config: Any) -> PlotStyle:
        lumi = None if config.luminosity is None else config.luminosity / 1000.0  # pb^-1 -> fb^-1
        return cls(config.plots.experiment, config.plots.text, lumi, config.plots.energy)

    def label(self, ax: Any) -> None:
        """The experiment's label above ``ax``: name and text on the left, luminosity and energy right."""
        if self.experiment == "none":
            return
        import mplhep

        lumi = f"{self.lumi:.3g}" if self.lumi is not None else None
        mplhep.label.exp_label(exp=self.experiment, text=self.text, lumi=lumi, com=self.energy, ax=ax, loc=0)


_STYLE: ContextVar[PlotStyle] = ContextVar("hepopt_plot_style", default=PlotStyle())  # noqa: B039 - frozen


@contextmanager
def plot_style(style: PlotStyle) -> Iterator[None]:
    """Plots drawn inside take ``style`` (a run sets its config's)."""
    token = _STYLE.set(style)
    try:
        yield
    finally:
        _STYLE.reset(token)


def styled(plot: Callable[P, R]) -> Callable[P, R]:
    """Draw ``plot`` in the run's experiment style (mplhep; CMS by default), inside a style
    context: the caller's rcParams (in a notebook, say) are as they were afterwards, and the
    backend is never switched."""

    @functools.wraps(plot)
    def in_style(*args: P.args, **kwargs: P.kwargs) -> R:
        import matplotlib.style
        import mplhep

        sheets = {"ATLAS": mplhep.style.ATLAS, "LHCb": mplhep.style.LHCb2}
        with matplotlib.style.context(sheets.get(_STYLE.get().experiment, mplhep.style.CMS)):
            return plot(*args, **kwargs)

    return in_style


class _Figures:
    """What hepopt's plots took from pyplot, without pyplot: a figure here is not registered with
    pyplot (no backend chosen, nothing left open in the caller's session) and renders with Agg."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, **kwargs: Any) -> Any:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        return fig, fig.subplots(nrows, ncols, **kwargs)

    @staticmethod
    def get_cmap(name: str) -> Any:
        import matplotlib

        return matplotlib.colormaps[name]


def figures() -> _Figures:
    return _Figures()


def save_figure(fig: object, path: Path, pdf: bool = True) -> None:
    """Write ``path`` as PNG (to look at) and, with ``pdf``, PDF (for the paper), the run's
    experiment label on its first axes."""
    axes = getattr(fig, "axes", [])
    if axes:
        _STYLE.get().label(axes[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".png", ".pdf") if pdf else (".png",):
        fig.savefig(path.with_suffix(suffix), bbox_inches="tight")  # type: ignore[attr-defined]


@styled
def overtraining_plot(
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    path: Path,
    title: str = "",
) -> dict[str, float]:
    """Classifier output of signal and background, training (filled) vs. test (points).

    Each of ``train`` and ``test`` is ``(scores, labels, weights)``; histograms are normalised to
    unit area per class. The Kolmogorov-Smirnov p-value of train vs. test per class, the usual
    overtraining check, is written in the legend and returned.

    Returns:
        ``{"ks_pvalue_signal": ..., "ks_pvalue_background": ...}``.
    """
    import hist
    import mplhep

    plt = figures()
    fig, ax = plt.subplots(figsize=(9, 7))
    ks = {}
    for label, name, color in ((1, "signal", "tab:red"), (0, "background", "tab:blue")):
        hists = []
        for scores, labels, weights in (train, test):
            h = hist.Hist.new.Reg(N_BINS, 0.0, 1.0, name="score").Weight()
            mask = labels == label
            h.fill(score=np.clip(scores[mask], 0.0, 1.0 - 1e-9), weight=np.abs(weights[mask]))
            hists.append(h)
        mask_tr, mask_te = train[1] == label, test[1] == label
        _, pvalue = weighted_ks(train[0][mask_tr], train[2][mask_tr], test[0][mask_te], test[2][mask_te])
        ks[f"ks_pvalue_{name}"] = pvalue
        mplhep.histplot(
            hists[0], density=True, histtype="fill", alpha=0.35, color=color, label=f"{name} (train)", ax=ax
        )
        mplhep.histplot(
            hists[1], density=True, histtype="errorbar", color=color, label=f"{name} (test), KS p = {pvalue:.3f}", ax=ax
        )
    ax.set_xlabel("classifier output")
    ax.set_ylabel("normalised events")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.legend(loc="upper center", fontsize=14)
    if title:
        ax.set_title(title, fontsize=16)
    save_figure(fig, path)
    return ks


@styled
def variation_plot(classifier: object, sets: object, split: str, path: Path, title: str = "") -> dict[str, float]:
    """Classifier output, nominal vs. each systematic variation, for signal and background
    (affected datasets only), with the Jensen-Shannon divergence of each in the legend.

    Returns the JSD per ``"<variation>/<class>"``.
    """
    import mplhep

    from hepopt.scoring.trial import objective_inputs
    from hepopt.stats.binning import histogram
    from hepopt.stats.robustness import CLASSES, jensen_shannon

    inputs = objective_inputs(classifier, sets, split)  # type: ignore[arg-type]
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    plt = figures()
    fig, axes = plt.subplots(1, 2, figsize=(16, 7))
    jsd = {}
    for ax, (cls, cls_name) in zip(axes, CLASSES, strict=True):
        nominal_drawn = set()
        for name, varied in inputs.variations.items():
            nom = (inputs.labels == cls) & np.isin(inputs.dataset, varied.affected)
            var = (varied.labels == cls) & np.isin(varied.dataset, varied.affected)
            if not nom.any() or not var.any():
                continue
            h_nom = histogram(inputs.scores[nom], inputs.weights[nom], edges)
            h_var = histogram(varied.scores[var], varied.weights[var], edges)
            jsd[f"{name}/{cls_name}"] = jensen_shannon(h_nom, h_var)
            if varied.affected not in nominal_drawn:
                mplhep.histplot(h_nom, edges, histtype="fill", alpha=0.3, color="grey", label="nominal", ax=ax)
                nominal_drawn.add(varied.affected)
            mplhep.histplot(h_var, edges, label=f"{name} (JSD {jsd[f'{name}/{cls_name}']:.2g} bit)", ax=ax)
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel("classifier output")
        ax.set_ylabel("expected events")
        ax.set_title(f"{cls_name}{': ' + title if title else ''}", fontsize=16)
        if nominal_drawn:
            ax.legend(fontsize=13)
        else:  # e.g. a variation that exists for the background samples only
            ax.text(0.5, 0.5, f"no variation affects the {cls_name}", ha="center", transform=ax.transAxes)
    save_figure(fig, path)
    return jsd


@styled
def roc_plot(
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path, title: str = ""
) -> dict[str, float]:
    """Background rejection 1/eff_b (log) against signal efficiency for each labelled classifier,
    ``(scores, labels, weights)`` each (|weights|), with the weighted ROC AUC in the legend.

    Returns the AUC per label.
    """
    from hepopt.stats.figures_of_merit import yields_above_cuts
    from hepopt.stats.metrics import weighted_roc_auc

    plt = figures()
    fig, ax = plt.subplots(figsize=(9, 7))
    aucs = {}
    for label, (scores, labels, weights) in curves.items():
        _, s, b = yields_above_cuts(scores, labels, np.abs(weights))
        eff_s, eff_b = s / s[-1], b / b[-1]
        keep = eff_b > 0
        aucs[label] = weighted_roc_auc(scores, labels, np.abs(weights))
        ax.plot(eff_s[keep], 1.0 / eff_b[keep], label=f"{label} (AUC {aucs[label]:.4f})")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background rejection 1 / $\\epsilon_b$")
    ax.legend(fontsize=14)
    if title:
        ax.set_title(title, fontsize=16)
    save_figure(fig, path)
    return aucs
