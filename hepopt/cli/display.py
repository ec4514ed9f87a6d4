"""What the CLI shows: stage messages, a trial progress bar, the summary tables (rich)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from hepopt.results.summary import value_with_error

_STAGES = {
    "prepare": "Reading the samples through the coffea processor",
    "preoptimize": "Pre-optimising the hyperparameters with every variable",
    "eliminate": "Selecting input variables by backward elimination",
    "optimize": "Searching hyperparameters",
    "finetune": "Fine-tuning the best trials with population-based training (Ray Tune)",
    "export": "Exporting the best model (TorchScript, ONNX)",
}


class Display:
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True, quiet=quiet)
        self.out = Console(quiet=quiet)

    def stage(self, name: str) -> None:
        if name.startswith("note:"):  # something the user should know, e.g. a study not resumed
            self.console.print(f"[bold yellow]![/bold yellow] {escape(name.removeprefix('note:'))}")
        elif name.endswith(":skipped"):
            name = name.removesuffix(":skipped")
            self.console.print(f"[bold]>[/bold] {name}: up to date, skipped (--force reruns it)")
        else:
            self.console.print(f"[bold]>[/bold] {_STAGES.get(name, name)}")

    def status(self, rows: list[Any]) -> None:
        """``hepopt status``: each stage's state, whether it matches the config, when, artifacts."""
        import datetime

        table = Table("stage", "state", "up to date", "finished", "seconds", "artifacts")
        for row in rows:
            finished = row.manifest.get("finished")
            when = datetime.datetime.fromtimestamp(finished).strftime("%Y-%m-%d %H:%M") if finished else ""
            artifacts = row.manifest.get("artifacts") or {}
            shown = ", ".join(f"{k}={_short(v)}" for k, v in list(artifacts.items())[:4])
            if row.state == "failed":
                shown = row.manifest.get("error", "")
            fresh = "yes" if row.up_to_date else ("no: inputs changed" if row.state == "done" else "no")
            table.add_row(row.name, row.state, fresh, when, str(row.manifest.get("seconds", "")), shown)
        self.out.print(table)

    def studies(self, rows: list[Any]) -> None:
        """``hepopt status``: the studies of the searching stages, the one a rerun resumes first."""
        if not rows:
            return
        table = Table("stage", "study", "key", "complete", "trials", "resumed by this config", "")
        for row in sorted(rows, key=lambda r: (r.stage, not r.current, r.name)):
            current = "[green]yes[/green]" if row.current else "no"
            table.add_row(
                row.stage,
                escape(row.name),
                row.key or "-",
                str(row.complete),
                str(row.trials),
                current,
                escape(row.note),
            )
        self.out.print(table)

    @contextmanager
    def search_progress(self, total: int) -> Iterator[Any]:
        """A rich progress bar over trials with the best value so far; yields an Optuna callback.
        Where the output is not a terminal (a batch job's log), one line per finished trial instead."""
        if not self.quiet and not self.console.is_terminal:
            yield self._trial_lines(total)
            return
        progress = Progress(
            TextColumn("trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            disable=self.quiet,
        )
        task = progress.add_task("trials", total=total, best="-")
        started = {"done": False}

        def callback(study: Any, trial: Any) -> None:
            if not started["done"]:  # a resumed study starts part-way
                from optuna.trial import TrialState

                finished = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING]
                progress.update(task, completed=min(len(finished) - 1, total))
                started["done"] = True
            try:
                if len(study.directions) > 1:
                    best = f"{len(study.best_trials)} on the Pareto front"
                else:
                    best = f"{study.best_value:.4g}"
            except ValueError:  # no completed trial yet, or none within the constraints
                best = "none within constraints" if trial.constraints else "-"
            progress.update(task, advance=1, best=best)

        with progress:
            yield callback

    def _trial_lines(self, total: int) -> Any:
        """An Optuna callback printing ``trial 7 complete: 3.412 (best 3.52, trial 4) [8/20]``."""
        from optuna.trial import TrialState

        def callback(study: Any, trial: Any) -> None:
            finished = sum(t.state != TrialState.RUNNING for t in study.get_trials(deepcopy=False))
            state = trial.state.name.lower()
            value = ", ".join(f"{v:.4g}" for v in trial.values) if trial.values else ""
            try:
                best = (
                    f"{len(study.best_trials)} on the Pareto front"
                    if len(study.directions) > 1
                    else f"best {study.best_value:.4g}, trial {study.best_trial.number}"
                )
            except ValueError:
                best = "no best yet"
            seconds = trial.duration.total_seconds() if trial.duration is not None else float("nan")
            line = (
                f"trial {trial.number} {state}{': ' + value if value else ''} ({best}) [{min(finished, total)}/{total}]"
            )
            self.console.print(f"{line} {seconds:.1f} s", markup=False, highlight=False, soft_wrap=True)

        return callback

    def summary(self, result: Any) -> None:
        if self.quiet:
            return
        title = ", ".join(f"{n} ({d})" for n, d in zip(result.objectives, result.directions, strict=True))
        table = Table(title=f"{title}: baseline vs. best")
        table.add_column("")
        table.add_column("trial", justify="right")
        for name in result.objectives:
            table.add_column(f"{name}\nvalidation", justify="right")
            table.add_column(f"{name}\ntest", justify="right")
        for extra in _EXTRA_METRICS:
            if extra in result.best.test_metrics and extra not in result.objectives:
                table.add_column(f"{extra}\ntest", justify="right")
        rows = [("baseline (defaults)", result.baseline)]
        rows += [(f"{family} (defaults)", trial) for family, trial in result.comparisons.items()]
        rows += [("best", result.best)]
        rows += [("pareto", trial) for trial in result.pareto if trial.number != result.best.number]
        for label, summary in rows:
            if summary is None:
                continue
            cells = [label, str(summary.number)]
            val_err = getattr(summary, "validation_error", None) or [None] * len(summary.validation)
            test_err = getattr(summary, "test_error", None) or [None] * len(summary.test)
            for val, test, v_err, t_err in zip(summary.validation, summary.test, val_err, test_err, strict=True):
                cells += [value_with_error(val, v_err), value_with_error(test, t_err)]
            metric_err = getattr(summary, "test_metrics_error", None) or {}
            cells += [
                value_with_error(summary.test_metrics.get(e, float("nan")), metric_err.get(e))
                for e in _EXTRA_METRICS
                if e in result.best.test_metrics and e not in result.objectives
            ]
            table.add_row(*cells)
        self.out.print(table)
        selection = getattr(result, "selection", None)
        if selection:
            self.out.print(
                f"Split: {selection['split']}. Chosen on validation: {'; '.join(selection['chosen_on_validation'])}. "
                "Quote the test values: nothing was chosen on them."
            )
        params = Table(title="best hyperparameters")
        params.add_column("parameter")
        params.add_column("best", justify="right")
        params.add_column("baseline", justify="right")
        for name, value in result.best.params.items():
            base = result.baseline.params.get(name, "") if result.baseline else ""
            params.add_row(name, _fmt(value), _fmt(base))
        self.out.print(params)
        if result.best.constraints:
            checks = ", ".join(
                f"{label} (validation {value:.4g}, test {result.best.test_metrics.get('constraint: ' + label, float('nan')):.4g})"
                for label, value in result.best.constraints.items()
            )
            verdict = "best trial within" if result.best.feasible else "[red]no trial within[/red]"
            self.out.print(f"{verdict} the constraints: {checks}")
        if result.finetune:
            ft = result.finetune
            self.out.print(
                f"population-based fine-tuning: validation {ft['validation']:.4g} (search {ft['search_validation']:.4g}), "
                f"test {ft['test']:.4g} (search {ft['search_test']:.4g}); model in {ft['model_path']}"
            )
        cv = getattr(result, "cross_validation", None)
        if cv:
            folds = "; ".join(
                f"#{r['number']} {r['mean']:.4g} ± {r['std']:.2g}" + (" (kept)" if r["number"] == cv["chosen"] else "")
                for r in cv["rows"]
            )
            self.out.print(f"best trials cross-validated over {cv['folds']} folds (mean ± std): {folds}")
        if getattr(result, "best_is_defaults", False):
            self.out.print(
                "[yellow]hepopt's defaults (outside the searched ranges) beat every trial on validation: "
                "best_model.pt holds them[/yellow]"
            )
        self.out.print(
            f"{result.n_complete} trials complete, {result.n_failed} failed, {result.trials_run} run now; "
            f"results in {result.output_dir}"
        )

    def iteration(self, it: Any) -> None:
        """One elimination step as it finishes: how many variables, the metric, what went."""
        line = f"  {len(it.variables):3d} variables  metric {it.metric:.5g}"
        if it.dropped:
            worst = it.importances[0]
            line += f"  {it.method}: drop {', '.join(it.dropped)} (importance {_pm(worst.mean, worst.stderr)})"
        elif not it.within_tolerance:
            line += "  outside tolerance: stop"
        self.console.print(line)

    def selection(self, selection: Any) -> None:
        """The elimination's iterations and the variables kept."""
        result = selection.result
        if result is None:
            self.out.print(f"Reused the selection in {selection.files['selection']} (same data and settings)")
        else:
            table = Table(
                "iteration",
                "variables",
                f"{result.objective} (validation)",
                "test",
                "method",
                "dropped",
                "importance ± s.e.",
            )
            for it in result.iterations:
                dropped = [imp for imp in it.importances if imp.unit in it.dropped]
                style = "bold green" if it.index == result.selected_iteration else None
                table.add_row(
                    str(it.index),
                    str(len(it.variables)),
                    _pm(it.metric, it.metric_std),
                    f"{it.test_metric:.5g}",
                    it.method or "",
                    ", ".join(it.dropped),
                    ", ".join(_pm(imp.mean, imp.stderr) for imp in dropped),
                    style=style,
                )
            self.out.print(table)
            self.out.print(
                f"Stopped: {result.stop_reason}; baseline {result.baseline:.5g}, limit {result.threshold:.5g} "
                "(the step is chosen on validation; the test column is free of that choice)"
            )
        self.out.print(f"Selected {len(selection.variables)} variables: {', '.join(selection.variables)}")


# Shown beside the objectives when the run measured them (systematics present).
_EXTRA_METRICS = ("asimov_significance", "robust_significance", "jsd_mean", "adversary_auc")


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _pm(value: float, error: float) -> str:

    return f"{value:.4g}" if math.isnan(error) else f"{value:.4g} ± {error:.2g}"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
