"""The univariate ranking against hand-built histograms and limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hepopt.data.table import EventTable
from hepopt.results.univariate import univariate_ranking, variable_separation, write_univariate

from helpers import auc_by_pairs


def toy() -> EventTable:
    rng = np.random.default_rng(0)
    n = 4000
    label = (rng.random(n) < 0.3).astype(np.int8)
    apart = rng.normal(0, 1, n) + 20 * label
    shifted = rng.normal(0, 1, n) + 0.8 * label
    constant = np.full(n, 3.0)
    return EventTable(
        features=np.stack([shifted, apart, constant], axis=1).astype(np.float32),
        label=label,
        weight=np.where(label == 1, 0.01, 1.0) * rng.uniform(0.5, 1.5, n),
        dataset=label.astype(np.int16),
        variation=np.zeros(n, np.int16),
        event_id=np.arange(n, dtype=np.int64),
        feature_names=("shifted", "apart", "constant"),
        dataset_names=("bkg", "sig"),
    )


def test_separation_by_hand() -> None:
    # 200 values 0..199: quantile edges 0.995 and 199 - 0.995; 40 bins of (197.01 / 40).
    values = np.arange(200.0)
    labels = (values >= 100).astype(np.int8)
    weights = np.ones(200)
    assert variable_separation(values, labels, weights) == pytest.approx(1.0)  # no bin holds both classes
    low, high = np.quantile(values, [0.005, 0.995])
    edges = np.linspace(low, high, 41)
    mixed = np.tile([0, 1], 100).astype(np.int8)
    s = np.histogram(np.clip(values[mixed == 1], low, high), edges)[0] / 100
    b = np.histogram(np.clip(values[mixed == 0], low, high), edges)[0] / 100
    both = (s + b) > 0
    expected = 0.5 * np.sum((s[both] - b[both]) ** 2 / (s[both] + b[both]))
    assert variable_separation(values, mixed, weights) == pytest.approx(expected)


def test_ranking_orders_and_limits(tmp_path: Path) -> None:
    table = toy()
    rows = univariate_ranking(table)
    assert [r["variable"] for r in rows] == ["apart", "shifted", "constant"]
    by_name = {r["variable"]: r for r in rows}
    assert by_name["apart"]["separation"] == pytest.approx(1.0)
    assert by_name["apart"]["roc_auc"] == pytest.approx(1.0)
    assert by_name["constant"]["separation"] == 0.0
    assert by_name["constant"]["roc_auc"] == pytest.approx(0.5)
    shifted = table.features[:, 0].astype(np.float64)
    assert by_name["shifted"]["roc_auc"] == pytest.approx(auc_by_pairs(shifted, table.label, table.weight), abs=1e-9)
    signal = table.label == 1
    assert by_name["shifted"]["signal_mean"] == pytest.approx(np.average(shifted[signal], weights=table.weight[signal]))
    files = write_univariate(table, tmp_path, "toy")
    assert (
        files["variables_csv"].read_text().splitlines()[0] == "variable,separation,roc_auc,signal_mean,background_mean"
    )
    assert files["variables_plot"].stat().st_size > 10_000


def test_input_plots_and_correlations(tmp_path: Path) -> None:
    import csv

    from hepopt.results.inputs import weighted_correlation, write_input_plots

    table = toy()
    files = write_input_plots(table, tmp_path, "toy")
    assert files["inputs_plot"].stat().st_size > 10_000
    assert files["correlations_plot"].stat().st_size > 10_000
    with files["correlations_csv"].open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["class", "variable", *table.feature_names]
    signal = table.label == 1
    expected = weighted_correlation(table.features[signal].astype(np.float64), np.abs(table.weight[signal]))
    np.testing.assert_allclose([[float(v) for v in r[2:]] for r in rows[1:4]], expected, atol=1e-5)


def test_the_experiment_label_is_drawn_only_when_asked(tmp_path: Path) -> None:
    from hepopt.results.plots import PlotStyle, figures, plot_style, save_figure

    def texts(style: PlotStyle | None) -> list[str]:
        fig, ax = figures().subplots()
        ax.plot([0, 1], [0, 1])
        if style is None:
            save_figure(fig, tmp_path / "plain.png", pdf=False)
        else:
            with plot_style(style):
                save_figure(fig, tmp_path / "styled.png", pdf=False)
        return [t.get_text() for t in ax.texts]

    assert texts(None) == []
    shown = " ".join(texts(PlotStyle("CMS", "Simulation Preliminary", lumi=138.0, energy=13.6)))
    assert "CMS" in shown
    assert "Simulation Preliminary" in shown
    assert "138" in shown
    assert "13.6 TeV" in shown
    assert "ATLAS" in " ".join(texts(PlotStyle("ATLAS", "Internal")))
