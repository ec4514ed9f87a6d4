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

from hepopt.errors import HepoptError, describe_os_error
from hepopt.runtime.signals import sigterm_as_interrupt

INTERRUPTED = "hepopt: interrupted; finished trials and stages are saved. Run the same command again to resume."
TERMINATED = "hepopt: stopped by SIGTERM; finished trials and stages are saved. Run the same command again to resume."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hepopt")
def cli() -> None:
    """hepopt: find the best classifier for your analysis, from ROOT files to a significance."""


def _common(func: Any) -> Any:
    func = click.option("--debug", is_flag=True, help="Show the full traceback on errors.")(func)
    return click.option("-q", "--quiet", is_flag=True, help="No progress bars or tables.")(func)


def _ray_address(func: Any) -> Any:
    return click.option(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Run trials, elimination retrainings and fine-tuning on this Ray cluster (host:port on "
        "its nodes, ray://host:10001 from outside it); sets search.backend to ray. Default: "
        "search.ray_address, else RAY_ADDRESS, else a local Ray.",
    )(func)


def _on_cluster(cfg: Any, ray_address: str | None) -> Any:
    """The config with its trials sent to ``ray_address`` (the analysis settings unchanged)."""
    if not ray_address:
        return cfg
    search = cfg.search.model_copy(update={"backend": "ray", "ray_address": ray_address})
    return cfg.model_copy(update={"search": search})


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--n-trials", type=click.IntRange(min=1), default=None, help="Override search.n_trials.")
@click.option("--force", is_flag=True, help="Rerun stages that are up to date.")
@_ray_address
@_common
def optimize(
    config: Path, n_trials: int | None, force: bool, ray_address: str | None, quiet: bool, debug: bool
) -> None:
    """Run the stages of CONFIG: read the samples, [select variables,] search hyperparameters,
    [fine-tune,] write and export the best classifier.

    Running it again skips the stages whose inputs did not change and resumes the rest (a
    stopped search runs only its missing trials). 'hepopt status CONFIG' shows where it stands.
    """
    from hepopt.api import optimize as run_optimize
    from hepopt.cli.display import Display
    from hepopt.cli.logfile import log_to_file
    from hepopt.config import load_config

    cfg = _on_cluster(load_config(config), ray_address)
    display = Display(quiet=quiet)
    target = n_trials or cfg.search.n_trials
    # A batch system's SIGTERM stops the run like Ctrl-C: what finished is saved, the rerun resumes.
    with sigterm_as_interrupt(), log_to_file(cfg.output_dir), display.search_progress(target) as callback:
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
    from hepopt.cli.display import Display
    from hepopt.config import load_config
    from hepopt.stages import stage_list, study_status
    from hepopt.stages import status as stage_status

    cfg = load_config(config)
    stages = stage_list(cfg)
    rows = stage_status(cfg, stages)
    studies = study_status(cfg, stages)
    if as_json:
        import json
        from dataclasses import asdict

        stage_rows = [
            {"stage": r.name, "state": r.state, "up_to_date": r.up_to_date}
            | r.manifest
            | (
                {"studies": [asdict(s) for s in studies if s.stage == r.name]}
                if r.name in {s.stage for s in studies}
                else {}
            )
            for r in rows
        ]
        click.echo(json.dumps(stage_rows, indent=2))
    else:
        display = Display(quiet=quiet)
        display.status(rows)
        display.studies(studies)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Rerun the elimination even if it is up to date.")
@_ray_address
@_common
def eliminate(config: Path, force: bool, ray_address: str | None, quiet: bool, debug: bool) -> None:
    """Select the input variables of CONFIG by backward elimination (its 'eliminate' section).

    Writes eliminate/ranking.csv, iterations.csv, metric_vs_variables.png and selection.json
    under the output folder; 'hepopt optimize' then searches with the selected variables.
    """
    from hepopt.api import eliminate as run_eliminate
    from hepopt.cli.display import Display
    from hepopt.cli.logfile import log_to_file
    from hepopt.config import load_config

    cfg = _on_cluster(load_config(config), ray_address)
    display = Display(quiet=quiet)
    with sigterm_as_interrupt(), log_to_file(cfg.output_dir):
        selection = run_eliminate(
            cfg, progress=not quiet, on_stage=display.stage, on_iteration=display.iteration, force=force
        )
    display.selection(selection)


def _results_folder(target: Path) -> Path:
    """The output folder of a run, given the folder itself or the config that wrote it."""
    if target.suffix in (".yaml", ".yml"):
        from hepopt.config import load_config

        return load_config(target).output_dir
    if not target.is_dir():
        msg = f"{target}: no such folder (give the output folder of a run, or its config file)"
        raise HepoptError(msg)
    return target


@cli.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Default: RESULTS/report.html.")
@_common
def report(results: Path, output: Path | None, quiet: bool, debug: bool) -> None:
    """Write one self-contained HTML page of a run: stages, best trials, tables and every plot
    embedded; it opens from disk with no server. RESULTS is the run's output folder or its config."""
    from hepopt.results.report import write_report

    path = write_report(_results_folder(results), output)
    if not quiet:
        click.echo(f"report written to {path} (open it in a browser)")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("hepopt.yaml"), show_default=True)
@click.option("--tree", default=None, help="The TTree to read (default: Events, or the file's only tree).")
@_common
def init(inputs: tuple[Path, ...], output: Path, tree: str | None, quiet: bool, debug: bool) -> None:
    """Write a starting config from INPUTS: ROOT files (one dataset each) or one coffea fileset
    (.json/.yaml). Proposes features from the branches; check the roles and cross-sections."""
    from hepopt.api import init as write_init

    path = write_init(list(inputs), output, tree)
    if not quiet:
        click.echo(f"{path} written: check roles, cross-sections and features, then 'hepopt check {path}'")


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@_common
def check(config: Path, quiet: bool, debug: bool) -> None:
    """Validate CONFIG and its inputs without running anything: the settings, the objectives'
    options, and that every file opens with its tree and the branches the expressions read."""
    import time

    from hepopt.api import check as check_config

    start = time.perf_counter()
    cfg, samples = check_config(config)
    if quiet:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("dataset", "variation", "files", "entries", "branches read", title=f"{config}: inputs")
    for s in samples:
        table.add_row(s.dataset, s.variation, str(s.files), f"{s.entries:,}", str(s.branches))
    Console().print(table)
    click.echo(
        f"{config}: OK ({len(cfg.datasets)} datasets, {len(cfg.variations)} variations, "
        f"{sum(s.files for s in samples)} files; checked in {time.perf_counter() - start:.1f} s)"
    )


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default=None, help="Default: <output>/optimize/workspace.json."
)
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test", show_default=True)
@click.option("--no-mc-stat", is_flag=True, help="Leave out the MC statistical uncertainty (staterror).")
@_common
def workspace(config: Path, output: Path | None, split: str, no_mc_stat: bool, quiet: bool, debug: bool) -> None:
    """Write the pyhf workspace of CONFIG's best model (histosys per systematic, staterror per bin,
    Asimov observations), for `pyhf fit`, `pyhf cls` or cabinetry."""
    from hepopt.api import workspace as write_workspace

    path = write_workspace(config, output=output, split=split, mc_stat=not no_mc_stat)
    if not quiet:
        click.echo(f"pyhf workspace written to {path} (e.g. pyhf cls {path})")


@cli.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback by default).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@_common
def dashboard(results: Path, host: str, port: int, quiet: bool, debug: bool) -> None:
    """Browse the search's Optuna study in optuna-dashboard (pip install 'hepopt[dashboard]').
    RESULTS is the run's output folder or its config (a config also finds a journal or RDB storage)."""
    try:
        import optuna_dashboard
    except ImportError:
        msg = "hepopt dashboard needs optuna-dashboard: pip install 'hepopt[dashboard]'"
        raise HepoptError(msg) from None
    from hepopt.search.study import open_storage, storage_url

    if results.suffix in (".yaml", ".yml"):
        from hepopt.config import load_config

        url = storage_url(load_config(results))
    else:
        db = _results_folder(results) / "optimize" / "study.db"
        if not db.is_file():
            msg = f"{db}: no study here (run 'hepopt optimize' first, or give the config of a run with another storage)"
            raise HepoptError(msg)
        url = f"sqlite:///{db.resolve()}"
    if not quiet:
        click.echo(f"optuna-dashboard on http://{host}:{port}/ for {url} (Ctrl-C stops it)")
    optuna_dashboard.run_server(open_storage(url), host=host, port=port)


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


@cli.command("cluster-script")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--scheduler", type=click.Choice(["slurm", "htcondor"]), required=True)
@click.option("--nodes", type=click.IntRange(min=1), default=2, show_default=True, help="Ray worker nodes.")
@click.option("--cpus-per-node", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--gpus-per-node", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--time", "walltime", default="04:00:00", show_default=True, help="Slurm wall time.")
@click.option("--port", type=click.IntRange(1, 65535), default=6379, show_default=True, help="Ray head port.")
@click.option("--setup", default="", help="Shell line(s) making ray and hepopt available on the nodes "
              "(default: activate this virtual environment).")  # fmt: skip
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write here, not to stdout.")
@_common
def cluster_script(
    config: Path,
    scheduler: str,
    nodes: int,
    cpus_per_node: int,
    gpus_per_node: int,
    walltime: str,
    port: int,
    setup: str,
    output: Path | None,
    quiet: bool,
    debug: bool,
) -> None:
    """Write a script that starts a Ray cluster in a Slurm allocation or from HTCondor jobs and
    runs 'hepopt optimize CONFIG --ray-address' on it (the config itself is unchanged)."""
    from hepopt.cli.cluster_scripts import ClusterRequest
    from hepopt.cli.cluster_scripts import cluster_script as render
    from hepopt.config import load_config

    load_config(config)  # a broken config fails here, not hours later on the cluster
    request = ClusterRequest(config, nodes, cpus_per_node, gpus_per_node, walltime, port, setup)
    text = render(scheduler, request)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text)
        output.chmod(0o755)
    except OSError as err:
        raise HepoptError(describe_os_error(err, output)) from err
    if not quiet:
        click.echo(f"{scheduler} script written to {output}")


@cli.command()
@_common
def models(quiet: bool, debug: bool) -> None:
    """List the installed model families (built-in and plugins) and their parameters."""
    import importlib.metadata

    from rich.console import Console
    from rich.table import Table

    from hepopt.models.registry import GROUP, load_families

    dists = {ep.name: ep.dist for ep in importlib.metadata.entry_points(group=GROUP)}
    table = Table("family", "parameters (defaults)", "package", "version")
    for name, cls in sorted(load_families().items()):
        dist = dists.get(name)
        defaults = ", ".join(f"{k}={v!r}" for k, v in cls.parameters.items())
        table.add_row(name, defaults, dist.name if dist else "?", dist.version if dist else "?")
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    """Entry point: a :class:`HepoptError` becomes one line on stderr and exit code 1."""
    from hepopt.runtime.signals import Terminated, interrupt_in

    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="hepopt", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt) as stop:  # click turns Ctrl-C into Abort
        if isinstance(stop, Terminated) or isinstance(stop.__cause__, Terminated):
            click.echo(TERMINATED, err=True)
            return 128 + 15
        click.echo(INTERRUPTED, err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except HepoptError as err:
        if "--debug" in args:
            traceback.print_exc()
        click.echo(f"hepopt: error: {err}", err=True)
        return 1
    except OSError as err:  # the machine's, not hepopt's: a full disk, a folder it cannot write
        if "--debug" in args:
            traceback.print_exc()
        click.echo(f"hepopt: error: {describe_os_error(err)}", err=True)
        return 1
    except Exception as err:  # noqa: BLE001 - a bug, not a user error: still one line unless --debug
        interrupt = interrupt_in(err)
        if interrupt is not None:  # Ctrl-C landed inside a library, which raised its own error
            if "--debug" in args:
                traceback.print_exc()
            click.echo(TERMINATED if isinstance(interrupt, Terminated) else INTERRUPTED, err=True)
            return 128 + 15 if isinstance(interrupt, Terminated) else 130
        if "--debug" in args:
            traceback.print_exc()
        click.echo(
            f"hepopt: internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)", err=True
        )
        return 1
    return 0
