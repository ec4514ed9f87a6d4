"""Run stages in order, each with a manifest in its own folder (``<output>/<stage>/manifest.json``);
skip a stage whose manifest says done with the same key (its config inputs and the keys of the
stages before it)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepopt.config.schema import HepoptConfig
from hepopt.errors import HepoptError, OutputError, describe_os_error, is_output_problem
from hepopt.runtime.signals import interrupt_in, interrupt_reason
from hepopt.stages.base import Stage, StageContext

MANIFEST = "manifest.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageStatus:
    name: str
    state: str  # "done", "running" (process killed halfway), "interrupted" (Ctrl-C, SIGTERM), "failed", "not run"
    up_to_date: bool
    manifest: dict[str, Any]


def stage_keys(config: HepoptConfig, stages: list[Stage], extra: dict[str, Any] | None = None) -> list[str]:
    """Each stage's key: its inputs (and ``extra[name]``, e.g. the fingerprint of events handed
    over from a coffea workflow) chained with the key of the stage before it."""
    keys, previous = [], ""
    for stage in stages:
        inputs = [stage.inputs(config), (extra or {}).get(stage.name)]
        text = json.dumps([stage.name, inputs, previous], sort_keys=True, default=str)
        previous = hashlib.sha256(text.encode()).hexdigest()[:16]
        keys.append(previous)
    return keys


def manifest_path(config: HepoptConfig, name: str) -> Path:
    return config.output_dir / name / MANIFEST


def read_manifest(config: HepoptConfig, name: str) -> dict[str, Any]:
    try:
        return json.loads(manifest_path(config, name).read_text())
    except (OSError, ValueError):
        return {}


def _write_manifest(config: HepoptConfig, name: str, manifest: dict[str, Any]) -> None:
    path = manifest_path(config, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    tmp.replace(path)  # a killed run never leaves half a manifest


def run_stages(context: StageContext, stages: list[Stage], *, force: bool = False) -> StageContext:
    """Run (or skip) ``stages`` in order; each one's artifacts land in ``context.artifacts``.

    A stage that raises gets a ``failed`` manifest with the error, and the error goes on up; one
    whose process was killed stays ``running`` and runs again (resuming its own work) next time.
    Another run on the same output folder meanwhile is refused (:mod:`hepopt.runtime.lock`).
    """
    from hepopt.results.plots import PlotStyle, plot_style
    from hepopt.runtime.lock import output_lock
    from hepopt.search.storage import storage_lock

    output = context.config.output_dir
    context.force = force
    try:
        # One run per output folder, and per study file named in search.storage.
        with output_lock(output), storage_lock(context.config), plot_style(PlotStyle.from_config(context.config)):
            _keep_config(context.config)
            _run_in_order(context, stages, force=force)
    except OSError as err:  # a full disk, a folder it cannot write: one clear line, not a traceback
        if not is_output_problem(err, output):
            raise  # an input's problem (the CLI names the file in one line)
        raise OutputError(describe_os_error(err, output)) from err
    except Exception as err:
        if "database or disk is full" in str(err):  # SQLite's way (through SQLAlchemy) to say ENOSPC
            raise OutputError(describe_os_error(OSError(errno.ENOSPC, "No space left on device"), output)) from err
        raise
    return context


def _run_in_order(context: StageContext, stages: list[Stage], *, force: bool) -> None:
    from hepopt import __version__

    config = context.config
    for stage, key in zip(stages, stage_keys(config, stages, context.options.get("inputs")), strict=True):
        context.keys[stage.name] = key
        old = read_manifest(config, stage.name)
        if not force and old.get("state") == "done" and old.get("key") == key:
            context.artifacts[stage.name] = old.get("artifacts", {})
            context.on_stage(f"{stage.name}:skipped")
            log.info("stage %s: up to date (key %s), skipped", stage.name, key)
            continue
        context.on_stage(stage.name)
        log.info("stage %s: started (key %s, was %s)", stage.name, key, old.get("state", "not run"))
        started = time.time()
        manifest = {"stage": stage.name, "key": key, "state": "running", "started": started, "hepopt": __version__}
        _write_manifest(config, stage.name, manifest)
        try:
            artifacts = stage.run(context)
        except BaseException as err:
            # Ctrl-C or SIGTERM, also when a library turned it into an error of its own: like a
            # killed process, what finished is saved and the next run resumes the stage.
            interrupt = err if isinstance(err, KeyboardInterrupt) else interrupt_in(err)
            if interrupt is not None:
                why = interrupt_reason(interrupt)
                with contextlib.suppress(OSError):
                    _write_manifest(config, stage.name, manifest | {"state": "interrupted", "error": why})
                log.warning("stage %s: interrupted (%s); the same command resumes it", stage.name, why)
                if interrupt is err:
                    raise
                raise interrupt from err
            with contextlib.suppress(OSError):  # the disk may be what failed
                failed = {"state": "failed", "error": f"{type(err).__name__}: {err}"}
                _write_manifest(config, stage.name, manifest | failed)
            log.exception("stage %s: failed", stage.name)
            raise
        context.artifacts[stage.name] = artifacts
        finished = time.time()
        done = manifest | {"state": "done", "finished": finished, "seconds": round(finished - started, 2)}
        _write_manifest(config, stage.name, done | {"artifacts": artifacts})
        log.info("stage %s: done in %.1f s", stage.name, finished - started)


def status(config: HepoptConfig, stages: list[Stage]) -> list[StageStatus]:
    """What each stage's manifest says, and whether it still matches the config and inputs."""
    result = []
    for stage, key in zip(stages, stage_keys(config, stages), strict=True):
        manifest = read_manifest(config, stage.name)
        state = manifest.get("state", "not run")
        result.append(StageStatus(stage.name, state, state == "done" and manifest.get("key") == key, manifest))
    return result


def _keep_config(config: HepoptConfig) -> None:
    """``<output>/config.yaml``: the config this run was made with: its file's text (comments and
    all) when the file still gives this config, else the dump of the config as run (one made in
    Python, or changed since it was read: ``optimize(..., n_trials=4)``, ``--ray-address``)."""
    import yaml

    from hepopt.config.loader import load_config
    from hepopt.results.report import CONFIG_COPY

    text = None
    try:
        if config.source.is_file() and load_config(config.source).model_dump() == config.model_dump():
            text = config.source.read_text(encoding="utf-8")
    except (OSError, HepoptError):
        text = None
    if text is None:
        text = yaml.safe_dump(config.model_dump(mode="json", by_alias=True), sort_keys=False)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    (config.output_dir / CONFIG_COPY).write_text(text, encoding="utf-8")
