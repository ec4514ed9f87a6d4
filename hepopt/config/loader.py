"""Read ``hepopt.yaml`` safely, validate it, and explain what is wrong in one line."""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hepopt.config.expression_syntax import feature_where, parse_expression
from hepopt.config.fileset import FilesetError, merge_fileset
from hepopt.config.schema import HepoptConfig
from hepopt.config.yaml_reader import YamlLimitError, load_yaml
from hepopt.errors import ConfigError

RESERVED_FEATURE_KEYS = ("callable",)


def load_config(path: str | Path, fileset: dict[str, Any] | None = None) -> HepoptConfig:
    """Parse and validate a config file.

    Args:
        path: the YAML file.
        fileset: a coffea fileset dict to take the files from (replaces the file's ``fileset``).

    Returns:
        The validated, frozen config; ``config.source`` is the file it came from, and relative
        paths in it are resolved against that file's folder.

    Raises:
        ConfigError: naming the file and the dotted key of the first problem.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        msg = f"{path}: config file not found"
        raise ConfigError(msg) from err
    except OSError as err:
        msg = f"{path}: cannot read config file ({err.strerror})"
        raise ConfigError(msg) from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        msg = f"{path}: not a text file in UTF-8 (byte {err.start + 1}, line {line}); is this the config?"
        raise ConfigError(msg) from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        what = "refused" if isinstance(err, YamlLimitError) else "not valid YAML"
        msg = f"{path}: {what}{where}: {problem}"
        raise ConfigError(msg) from None
    except RecursionError:
        msg = f"{path}: nested too deeply to be a config"
        raise ConfigError(msg) from None
    if fileset is not None and isinstance(raw, dict):
        raw = {**raw, "fileset": fileset}
    return config_from_dict(raw, source=path)


def config_from_dict(raw: Any, source: str | Path = "<config>") -> HepoptConfig:
    """Validate an already-parsed config mapping (used by the Python API and by tests)."""
    if not isinstance(raw, dict):
        msg = f"{source}: expected a mapping of settings at the top level, got {type(raw).__name__}"
        raise ConfigError(msg)
    try:
        raw = merge_fileset(raw, Path(source).parent)
    except FilesetError as err:
        msg = f"{source}: {err}"
        raise ConfigError(msg) from None
    try:
        config = HepoptConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from None
    config.set_source(Path(source))
    _check_consistency(config, source)
    return config


def _describe(err: ValidationError, source: str | Path) -> str:
    """The first problem in one line: the dotted config key (not pydantic's internal names for
    the alternatives of a union) and what is wrong."""
    problems: dict[str, list[dict[str, Any]]] = {}  # a union's alternatives are one problem
    for error in err.errors():
        problems.setdefault(_field_key(error["loc"]), []).append(dict(error))
    errors = next(iter(problems.values()))
    first = _most_telling(errors)
    text = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        text = "unknown key"
    elif len(errors) > 1 and _is_type_mismatch(first) and _config_key(first["loc"]) == _field_key(first["loc"]):
        # No alternative of the union fits the value at all: say which forms it may take.
        forms = [f for f in dict.fromkeys(_form(error["loc"]) for error in errors) if f]
        if "a number" in forms and "a whole number" in forms:
            forms.remove("a whole number")
        text = "expected " + (", ".join(forms[:-1]) + " or " if len(forms) > 1 else "") + forms[-1]
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first and "got " not in text:
        text += f" (got {reprlib.repr(first['input'])})"
    shown = _config_key(first["loc"])
    more = len(problems) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {shown or '<top level>'}: {text}{tail}"


# The names pydantic gives the alternatives of a union in an error's location.
_FORMS = {"float": "a number", "int": "a whole number", "str": "a string", "bool": "true or false", "none": "null"}


def _is_tag(part: object) -> bool:
    return isinstance(part, str) and ("[" in part or "(" in part or part in _FORMS)


def _config_key(loc: tuple[Any, ...]) -> str:
    """``('model', 'space', 'lr', 'function-after[_complete(), ParamSpec]', 'high')`` ->
    ``model.space.lr.high``."""
    return ".".join(str(part) for part in loc if not _is_tag(part))


def _field_key(loc: tuple[Any, ...]) -> str:
    """The key of the field an error is about: for a union, the part before its alternatives."""
    parts = []
    for part in loc:
        if _is_tag(part):
            break
        parts.append(str(part))
    return ".".join(parts)


def _form(loc: tuple[Any, ...]) -> str | None:
    tags = [part for part in loc if _is_tag(part)]
    if not tags:
        return None
    tag = str(tags[-1])
    if tag in _FORMS:
        return _FORMS[tag]
    return "a list" if tag.startswith("list[") else "a mapping of settings"


def _is_type_mismatch(error: dict[str, Any]) -> bool:
    return str(error["type"]).endswith(("_type", "_parsing")) or error["type"] in (
        "int_from_float",
        "model_attributes_type",
    )


def _most_telling(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Among the failures of a union's alternatives, one that says more than "wrong type": the
    deepest one (e.g. ``high`` inside a search range) or one with a real reason ("finite")."""
    deepest = max(errors, key=lambda e: len(_config_key(e["loc"])))
    if len(_config_key(deepest["loc"])) > len(_config_key(errors[0]["loc"])):
        return deepest
    return next((e for e in errors if not _is_type_mismatch(e)), errors[0])


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
    cv = config.search.cross_validation
    if cv is not None and cv.mode == "best_trials" and config.objectives is not None:
        fail(
            "search.cross_validation.mode",
            "best_trials ranks by one objective; a multi-objective study has a Pareto front: use per_trial",
        )
    if config.finetune is not None and "adv_lambda" in (config.finetune.mutations or []) and config.adversary is None:
        fail("finetune.mutations", "mutating adv_lambda needs an 'adversary' section")
    if config.eliminate is not None:
        _check_eliminate(config, fail)
    augment = config.training.train_on_variations
    if augment is not False and not config.variations:
        fail("training.train_on_variations", "training on variations needs systematic variations; none are configured")
    for name in augment if isinstance(augment, list) else []:
        if name not in config.variations:
            fail(
                "training.train_on_variations",
                f"unknown variation '{name}'; variations are {sorted(config.variations)}",
            )
    for name in config.training.inference_aware.variations or []:
        if name not in config.variations:
            fail(
                "training.inference_aware.variations",
                f"unknown variation '{name}'; variations are {sorted(config.variations)}",
            )
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
    _check_expressions(config, source)
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


def _check_expressions(config: HepoptConfig, source: str | Path) -> None:
    """Every expression parsed and checked now, before any file is read (bounded, see
    :mod:`hepopt.config.expression_syntax`); the data stage reuses the parsed trees."""
    texts = [
        (feature_where(i, kind.removeprefix("expr:")), text)
        for i, (kind, text) in enumerate(config.feature_entries())
        if kind != "callable" and isinstance(text, str)
    ]
    texts += [("selection", config.selection)] if config.selection else []
    texts += [(f"datasets.{name}.weight", ds.weight) for name, ds in config.datasets.items()]
    for name, var in config.variations.items():
        texts += [
            (f"variations.{name}.{key}", text)
            for key, text in (("weight", var.weight), ("nuisance", var.nuisance))
            if text
        ]
    for where, text in texts:
        try:
            parse_expression(text, where)
        except ConfigError as err:
            msg = f"{source}: {err}"
            raise ConfigError(msg) from None


def _check_eliminate(config: HepoptConfig, fail: Callable[[str, str], None]) -> None:
    """Groups name each variable once (and only known ones, when no callable adds more). Whether
    ``eliminate.params`` names hyperparameters the trainer knows is the plan's check
    (:func:`hepopt.stages.plan.make_plan`): the model families are above the config."""
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
