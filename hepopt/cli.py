"""The ``hepopt`` command line: thin wrappers that parse, call the library, and show results.

Heavy libraries (torch, coffea, pyhf, optuna) are imported inside the commands, so that
``hepopt --help`` answers at once.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import click

from hepopt.errors import HepoptError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hepopt")
def cli() -> None:
    """hepopt: find the best classifier for your analysis, from ROOT files to a significance."""


def _common(func: Any) -> Any:
    func = click.option("--debug", is_flag=True, help="Show the full traceback on errors.")(func)
    return click.option("-q", "--quiet", is_flag=True, help="No progress bars or tables.")(func)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--n-trials", type=click.IntRange(min=1), default=None, help="Override search.n_trials.")
@click.option("--force", is_flag=True, help="Rerun stages that are up to date.")
@_common
def optimize(config: Path, n_trials: int | None, force: bool, quiet: bool, debug: bool) -> None:
    """Run the stages of CONFIG: read the samples, [select variables,] search hyperparameters,
    [fine-tune,] write and export the best classifier.

    Running it again skips the stages whose inputs did not change and resumes the rest (a
    stopped search runs only its missing trials). 'hepopt status CONFIG' shows where it stands.
    """
    import optuna

    from hepopt.cli_display import Display
    from hepopt.config import load_config
    from hepopt.pipeline import optimize as run_optimize

    # Optuna's per-trial INFO lines would fight with the progress bar; failures still show.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = load_config(config)
    display = Display(quiet=quiet)
    target = n_trials or cfg.search.n_trials
    with display.search_progress(target) as callback:
        result = run_optimize(
            cfg,
            progress=not quiet,
            n_trials=n_trials,
            trial_callbacks=[callback],
            on_stage=display.stage,
            on_iteration=display.iteration,
            force=force,
        )
    if result is not None:
        display.summary(result)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the stages as JSON instead of a table.")
@_common
def status(config: Path, as_json: bool, quiet: bool, debug: bool) -> None:
    """Show which stages of CONFIG are done and up to date (reads manifests; no data is read)."""
    from hepopt.cli_display import Display
    from hepopt.config import load_config
    from hepopt.stages import stage_list
    from hepopt.stages import status as stage_status

    cfg = load_config(config)
    rows = stage_status(cfg, stage_list(cfg))
    if as_json:
        import json

        click.echo(
            json.dumps(
                [{"stage": r.name, "state": r.state, "up_to_date": r.up_to_date} | r.manifest for r in rows], indent=2
            )
        )
    else:
        Display(quiet=quiet).status(rows)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Rerun the elimination even if it is up to date.")
@_common
def eliminate(config: Path, force: bool, quiet: bool, debug: bool) -> None:
    """Select the input variables of CONFIG by backward elimination (its 'eliminate' section).

    Writes eliminate/ranking.csv, iterations.csv, metric_vs_variables.png and selection.json
    under the output folder; 'hepopt optimize' then searches with the selected variables.
    """
    import optuna

    from hepopt.cli_display import Display
    from hepopt.config import load_config
    from hepopt.pipeline import eliminate as run_eliminate

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    display = Display(quiet=quiet)
    selection = run_eliminate(
        load_config(config), progress=not quiet, on_stage=display.stage, on_iteration=display.iteration, force=force
    )
    display.selection(selection)


@cli.command()
@_common
def objectives(quiet: bool, debug: bool) -> None:
    """List the installed objectives (built-in and plugins)."""
    import importlib.metadata

    from rich.console import Console
    from rich.table import Table

    from hepopt.objectives.registry import GROUP, load_objectives

    found = load_objectives()
    dists = {ep.name: ep.dist for ep in importlib.metadata.entry_points(group=GROUP)}
    table = Table("objective", "direction", "package", "version")
    for name, cls in sorted(found.items()):
        dist = dists.get(name)
        table.add_row(name, cls.direction, dist.name if dist else "?", dist.version if dist else "?")
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    """Entry point: a :class:`HepoptError` becomes one line on stderr and exit code 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="hepopt", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("hepopt: interrupted", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except KeyboardInterrupt:
        click.echo("hepopt: interrupted; run the same command again to resume", err=True)
        return 130
    except HepoptError as err:
        if "--debug" in args:
            traceback.print_exc()
        click.echo(f"hepopt: error: {err}", err=True)
        return 1
    except Exception as err:  # noqa: BLE001 - a bug, not a user error: still one line unless --debug
        if "--debug" in args:
            traceback.print_exc()
        click.echo(
            f"hepopt: internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)", err=True
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
