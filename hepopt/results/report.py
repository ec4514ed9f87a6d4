"""``hepopt report``: one self-contained HTML page of a run, to open from disk or mail around.

Plots are embedded as base64 PNGs, the style is inline, and there is no script: the page needs no
server, no network and no JavaScript. It reads only what the stages wrote (manifests, summaries,
tables, plots) and never the events or the models.
"""

from __future__ import annotations

import base64
import csv
import datetime
import html
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hepopt.errors import HepoptError
from hepopt.results.summary import value_with_error

STAGE_ORDER = ("prepare", "preoptimize", "eliminate", "optimize", "finetune", "export")
TOP_TRIALS = 10
CAPTIONS = {
    "overtraining_best": "Best classifier on the training (filled) and test (points) splits; the KS p-value per class is the usual overtraining check.",
    "roc_test": "ROC curves on the test split: background rejection against signal efficiency.",
    "variations_best": "Best classifier, nominal against each systematic variation (affected datasets), with the Jensen-Shannon divergence.",
    "history": "Optimisation history: every completed trial and the best so far.",
    "importances": "Hyperparameter importances for the first objective (PED-ANOVA).",
    "parallel_coordinates": "Every trial through its hyperparameters, coloured by the first objective (yellow: best).",
    "slices": "The first objective against each hyperparameter.",
    "pareto_front": "Multi-objective study: every trial and the Pareto front.",
    "metric_vs_variables": "Backward elimination: the metric as variables are dropped; the selected set is circled.",
    "ranking": "Importance of each input variable with all variables in (± standard error); blue: kept.",
    "variables": "Separation power of each input variable on its own (TMVA's definition), before any training.",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { border-bottom: 2px solid #444; padding-bottom: .3em; }
h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
tr.best td { background: #fff6d5; font-weight: bold; }
.bad { color: #b00; font-weight: bold; } .good { color: #070; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
.meta { color: #666; font-size: 0.9em; } .wide { overflow-x: auto; }
"""


CONFIG_COPY = "config.yaml"  # the config of the last run, written by the stage runner


def write_report(results: Path, out: Path | None = None) -> Path:
    """Write ``results/report.html`` (or ``out``) for the output folder of a run.

    Raises:
        HepoptError: ``results`` is not the output folder of a run (no stage manifest in it).
    """
    manifests = _manifests(results)
    if not manifests:
        msg = f"{results}: not a hepopt output folder (expected <stage>/manifest.json, e.g. optimize/manifest.json)"
        raise HepoptError(msg)
    out = out or results / "report.html"
    sections = [
        _stages_section(manifests),
        _variables_section(results / "prepare"),
        _yields_section(results / "optimize"),
        _optimize_section(results / "optimize"),
        _eliminate_section(results / "eliminate"),
        _finetune_section(results / "finetune"),
        _export_section(results / "export"),
        _config_section(results / CONFIG_COPY),
    ]
    title = f"hepopt report: {results.resolve().name}"
    made = datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class='meta'>{_e(str(results.resolve()))} · written {made}</p>"
        + "".join(s for s in sections if s)
        + "</body></html>\n"
    )
    out.write_text(page, encoding="utf-8")
    return out


def _manifests(results: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(results.glob("*/manifest.json")):
        try:
            found[path.parent.name] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    return dict(sorted(found.items(), key=lambda kv: order.get(kv[0], len(order))))


def _stages_section(manifests: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name, m in manifests.items():
        state = m.get("state", "?")
        css = "good" if state == "done" else "bad"
        finished = m.get("finished")
        when = (
            datetime.datetime.fromtimestamp(finished, tz=datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
            if isinstance(finished, int | float)
            else ""
        )
        # Folder names and manifest values are data, not markup: every one is escaped.
        rows.append(
            [
                _e(name),
                f"<span class='{css}'>{_e(state)}</span>",
                _fmt(m.get("seconds", "")),
                when,
                _e(m.get("error", "")),
            ]
        )
    return "<h2>Stages</h2>" + _table(["stage", "state", "seconds", "finished (UTC)", "error"], rows, escape=False)


def _variables_section(folder: Path) -> str:
    path = folder / "variables.csv"
    if not path.is_file():
        return ""
    return (
        "<h2>Input variables, each alone</h2>"
        + _csv_table(path, "Before any training (nominal events, |w|)")
        + _figures([folder / "variables.png", folder / "inputs.png", folder / "correlations.png"])
    )


def _yields_section(folder: Path) -> str:
    """Each dataset's simulated events and expected yield (nominal, at the config's luminosity)."""
    path = folder / "summary.json"
    if not path.is_file():
        return ""
    yields = json.loads(path.read_text()).get("yields") or {}
    rows = [[_e(name), _fmt(y["events"]), _fmt(y["yield"])] for name, y in yields.items()]
    rows.append(["<b>total</b>", _fmt(sum(y["events"] for y in yields.values())), ""])
    return "<h2>Yields</h2>" + _table(["dataset", "simulated events (nominal)", "expected events"], rows, escape=False)


def _config_section(path: Path) -> str:
    """The config the run was made with, as written."""
    if not path.is_file():
        return ""
    return f"<h2>Config</h2><pre>{_e(path.read_text(encoding='utf-8', errors='replace'))}</pre>"


def _optimize_section(folder: Path) -> str:
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        return ""
    s = json.loads(summary_path.read_text())
    names, directions = s["objectives"], s["directions"]
    parts = [
        "<h2>Hyperparameter search</h2>",
        (
            f"<p>Objectives: {', '.join(f'<b>{_e(n)}</b> ({_e(d)})' for n, d in zip(names, directions, strict=True))}. "
            f"{_e(s['n_complete'])} trials complete, {_e(s['n_failed'])} failed. Values on the validation split (searched) "
            "and the test split (never seen by the search).</p>"
        ),
    ]
    header = ["", "trial"] + [f"{n} {split}" for n in names for split in ("validation", "test")]
    rows = []
    compared = [(f"{family} (defaults)", trial) for family, trial in s.get("comparisons", {}).items()]
    for label, trial in (("baseline (defaults)", s.get("baseline")), *compared, ("best", s["best"])):
        if trial:
            errors = zip(
                trial.get("validation_error") or [None] * len(names),
                trial.get("test_error") or [None] * len(names),
                strict=True,
            )
            pairs = zip(trial["validation"], trial["test"], errors, strict=True)
            values = [
                value_with_error(v, e) for val, test, (v_err, t_err) in pairs for v, e in ((val, v_err), (test, t_err))
            ]
            rows.append([label, trial["number"], *values])
    parts.append(_table(header, rows, best_row=len(rows) - 1))
    if s.get("model_from"):
        parts.append(f"<p class='meta'>The kept model: {_e(s['model_from'])}.</p>")
    if s.get("best_is_defaults"):
        parts.append(
            "<p>hepopt's defaults (outside the searched ranges) beat every trial on validation: they are kept.</p>"
        )
    cv = s.get("cross_validation")
    if cv:
        folds = [f"fold {i}" for i in range(cv["folds"])]
        cv_rows = [[r["number"], *r["values"], r["mean"], r["std"]] for r in cv["rows"]]
        kept = next((i for i, r in enumerate(cv["rows"]) if r["number"] == cv["chosen"]), None)
        parts.append("<h3>The best trials, cross-validated</h3>")
        parts.append(_table(["trial", *folds, "mean", "std"], cv_rows, best_row=kept))
    best = s["best"]
    if best.get("constraints"):
        verdict = (
            "<span class='good'>within</span>" if best.get("feasible", True) else "<span class='bad'>outside</span>"
        )
        parts.append(f"<p>The best trial is {verdict} the constraints:</p>")
        parts.append(
            _table(
                ["constraint", "validation", "test"],
                [
                    [c, v, best["test_metrics"].get(f"constraint: {c}", math.nan)]
                    for c, v in best["constraints"].items()
                ],
            )
        )
    metrics = {k: v for k, v in best.get("test_metrics", {}).items() if not k.startswith("constraint: ")}
    if metrics:
        baseline_metrics = (s.get("baseline") or {}).get("test_metrics", {})
        parts.append("<h3>Test-split metrics</h3>")
        parts.append(
            _table(["metric", "best", "baseline"], [[k, v, baseline_metrics.get(k, "")] for k, v in metrics.items()])
        )
    baseline_params = (s.get("baseline") or {}).get("params", {})
    parts.append("<h3>Best hyperparameters</h3>")
    adversarial = best["params"].get("adv_lambda", 0) or baseline_params.get("adv_lambda", 0)
    shown = {k: v for k, v in best["params"].items() if adversarial or not k.startswith("adv_")}
    rows = [[k, v, baseline_params.get(k, "")] for k, v in shown.items()]
    parts.append(_table(["parameter", "best", "baseline"], rows))
    if s.get("importances"):
        parts.append("<h3>Hyperparameter importances</h3>")
        parts.append(_table(["parameter", "importance"], sorted(s["importances"].items(), key=lambda kv: -kv[1])))
    if s.get("pareto"):
        parts.append("<h3>Pareto front</h3>")
        parts.append(
            _table(
                ["trial"] + [f"{n} validation" for n in names], [[p["number"], *p["validation"]] for p in s["pareto"]]
            )
        )
    parts.append(_top_trials(folder / "trials.csv", names, directions, best["number"]))
    parts.append(_figures(sorted((folder / "plots").glob("*.png"))))
    return "".join(parts)


def _top_trials(path: Path, names: Sequence[str], directions: Sequence[str], best: int) -> str:
    if not path.is_file():
        return ""
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("state") == "COMPLETE"]
    value_key = "value" if len(names) == 1 else f"value:{names[0]}"  # as write_trials_csv names it
    if not rows or value_key not in rows[0]:
        return ""
    rows.sort(key=lambda r: float(r[value_key]), reverse=directions[0] == "maximize")
    shown = rows[:TOP_TRIALS]
    skip = {"state", "fail_reason", "duration_s"}
    columns = [c for c in shown[0] if c not in skip and any(r.get(c) for r in shown)]
    best_index = next((i for i, r in enumerate(shown) if r.get("number") == str(best)), None)
    table = _table(columns, [[r.get(c, "") for c in columns] for r in shown], best_row=best_index)
    return f"<h3>Top {len(shown)} of {len(rows)} completed trials</h3>{table}"


def _eliminate_section(folder: Path) -> str:
    selection_path = folder / "selection.json"
    if not selection_path.is_file():
        return ""
    selection = json.loads(selection_path.read_text())
    parts = [
        "<h2>Input-variable selection</h2>",
        f"<p>Kept {len(selection.get('variables', []))} variables: {_e(', '.join(selection.get('variables', [])))}.</p>",
    ]
    parts.append(_csv_table(folder / "iterations.csv", "Iterations (ranking.csv has every unit's importance in each)"))
    parts.append(_figures(sorted(folder.glob("*.png"))))
    return "".join(parts)


def _finetune_section(folder: Path) -> str:
    path = folder / "summary.json"
    if not path.is_file():
        return ""
    ft = json.loads(path.read_text())
    rows = [[k, v] for k, v in ft.items() if isinstance(v, int | float | str) and k != "model_path"]
    return (
        "<h2>Population-based fine-tuning</h2>" + _table(["", "value"], rows) + _figures(sorted(folder.glob("*.png")))
    )


def _export_section(folder: Path) -> str:
    path = folder / "model.json"
    if not path.is_file():
        return ""
    model = json.loads(path.read_text())
    files = [[name, info.get("sha256", "")[:16]] for name, info in model.get("files", {}).items()]
    parts = [
        "<h2>Exported model</h2>",
        f"<p>Input variables, in order: {_e(', '.join(model.get('variables', [])))}.</p>",
    ]
    if files:
        parts.append(_table(["file", "sha256 (first 16)"], files))
    return "".join(parts)


def _csv_table(path: Path, title: str) -> str:
    if not path.is_file():
        return ""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    return f"<h3>{_e(title)}</h3>" + _table(rows[0], rows[1:]) if rows else ""


def _figures(paths: Iterable[Path]) -> str:
    parts = []
    for path in paths:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = CAPTIONS.get(path.stem, path.stem.replace("_", " "))
        parts.append(
            f"<figure><img src='data:image/png;base64,{data}' alt='{_e(path.stem)}'>"
            f"<figcaption>{_e(caption)} <span class='meta'>({_e(path.name)})</span></figcaption></figure>"
        )
    return "".join(parts)


def _table(
    header: Sequence[Any], rows: Sequence[Sequence[Any]], best_row: int | None = None, escape: bool = True
) -> str:
    head = "".join(f"<th>{_e(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f"<td>{_fmt(c) if escape else c}</td>" for c in row)
        body.append(f"<tr class='best'>{cells}</tr>" if i == best_row else f"<tr>{cells}</tr>")
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def _fmt(value: Any) -> str:
    """Numbers to 4 significant digits (numeric strings from CSV files too), the rest escaped."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return _e(value)
        if value.strip().lstrip("-").isdigit():
            return _e(value)
        value = number
    if isinstance(value, bool) or value is None:
        return _e(str(value))
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else _e(str(value))
    return _e(str(value))


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)
