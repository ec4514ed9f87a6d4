"""Read ``hepopt.yaml`` safely, validate it, and explain what is wrong in one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hepopt.config.schema import HepoptConfig
from hepopt.errors import ConfigError

RESERVED_FEATURE_KEYS = ("callable",)


def load_config(path: str | Path) -> HepoptConfig:
    """Parse and validate a config file.

    Args:
        path: the YAML file.

    Returns:
        The validated, frozen config; ``config.source`` is the file it came from, and relative
        paths in it are resolved against that file's folder.

    Raises:
        ConfigError: naming the file and the dotted key of the first problem.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as err:
        msg = f"{path}: config file not found"
        raise ConfigError(msg) from err
    except OSError as err:
        msg = f"{path}: cannot read config file ({err.strerror})"
        raise ConfigError(msg) from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        msg = f"{path}: not valid YAML{where}: {problem}"
        raise ConfigError(msg) from err
    return config_from_dict(raw, source=path)


def config_from_dict(raw: Any, source: str | Path = "<config>") -> HepoptConfig:
    """Validate an already-parsed config mapping (used by the Python API and by tests)."""
    if not isinstance(raw, dict):
        msg = f"{source}: expected a mapping of settings at the top level, got {type(raw).__name__}"
        raise ConfigError(msg)
    try:
        config = HepoptConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from None
    config.set_source(Path(source))
    _check_consistency(config, source)
    return config


def _describe(err: ValidationError, source: str | Path) -> str:
    first = err.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "<top level>"
    text = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        text = "unknown key"
    elif first["type"] != "missing" and "input" in first:
        text += f" (got {first['input']!r})"
    more = err.error_count() - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {key}: {text}{tail}"


def _check_consistency(config: HepoptConfig, source: str | Path) -> None:
    """Rules spanning several keys, checked once, right after parsing."""

    def fail(key: str, text: str) -> None:
        msg = f"{source}: {key}: {text}"
        raise ConfigError(msg)

    roles = {ds.role for ds in config.datasets.values()}
    for role in ("signal", "background"):
        if role not in roles:
            fail("datasets", f"no dataset with role '{role}'; hepopt needs signal and background")
    for name, ds in config.datasets.items():
        if ds.cross_section is not None and config.luminosity is None:
            fail(f"datasets.{name}.cross_section", "a cross-section needs 'luminosity' at the top level")
    known = sorted(config.datasets)
    for vname, var in config.variations.items():
        if vname == "nominal":
            fail(f"variations.{vname}", "'nominal' is reserved for the nominal samples")
        for ds_name in list(var.datasets or {}) + list(var.applies_to or []):
            if ds_name not in config.datasets:
                fail(f"variations.{vname}", f"unknown dataset '{ds_name}'; datasets are {known}")
    if config.objectives is not None and "objective" in config.model_fields_set:
        fail("objectives", "give either 'objective' (one) or 'objectives' (a multi-objective study), not both")
    if config.search.pruner != "none" and config.objectives is not None:
        fail("search.pruner", "Optuna cannot prune multi-objective studies; use pruner: none")
    if config.finetune is not None and "adv_lambda" in (config.finetune.mutations or []) and config.adversary is None:
        fail("finetune.mutations", "mutating adv_lambda needs an 'adversary' section")
    if config.eliminate is not None:
        _check_eliminate(config, fail)
    if config.adversary is not None:
        adversary = config.adversary
        chosen = adversary.variations if adversary.variations is not None else list(config.variations)
        if not chosen:
            fail("adversary", "adversarial training needs systematic variations; none are configured")
        for name in chosen:
            if name not in config.variations:
                fail("adversary.variations", f"unknown variation '{name}'; variations are {sorted(config.variations)}")
        if adversary.kind == "mdn":
            missing = [n for n in chosen if n not in adversary.values and not config.variations[n].nuisance]
            if missing:
                fail(
                    "adversary.values",
                    f"the mdn adversary needs a nuisance value for {missing}, e.g. up: 1, down: -1 "
                    "(or a per-event 'nuisance' expression in the variation)",
                )
    names: set[str] = set()
    for i, entry in enumerate(config.features):
        if isinstance(entry, dict):
            if len(entry) != 1:
                fail(f"features.{i}", "write one 'name: expression' (or 'callable: pkg.module:func') per entry")
            key, value = next(iter(entry.items()))
            if key == "callable":
                if ":" not in value:
                    fail(f"features.{i}.callable", f"expected 'pkg.module:function', got {value!r}")
                continue
            name = key
        else:
            name = entry
        if name in names:
            fail(f"features.{i}", f"feature '{name}' is listed twice")
        names.add(name)


def _check_eliminate(config: HepoptConfig, fail: Callable[[str, str], None]) -> None:
    """Groups name each variable once (and only known ones, when no callable adds more); fixed
    hyperparameters are ones the trainer knows."""
    from hepopt.training.params import TrainParams

    eliminate = config.eliminate
    assert eliminate is not None
    entries = config.feature_entries()
    known = {kind.removeprefix("expr:") for kind, _ in entries if kind != "callable"}
    has_callables = any(kind == "callable" for kind, _ in entries)
    seen: dict[str, str] = {}
    for group, members in eliminate.groups.items():
        for member in members:
            if member in seen:
                fail(f"eliminate.groups.{group}", f"variable '{member}' is already in group '{seen[member]}'")
            if not has_callables and member not in known:
                fail(f"eliminate.groups.{group}", f"unknown variable '{member}'; variables are {sorted(known)}")
            seen[member] = group
    unknown = sorted(set(eliminate.params) - set(TrainParams.names()))
    if unknown:
        fail("eliminate.params", f"unknown hyperparameter(s) {unknown}; known: {sorted(TrainParams.names())}")
