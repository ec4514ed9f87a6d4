"""The hyperparameter search space declared under ``model.space`` in the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hepopt.config.schema import ModelConfig, ParamSpec
from hepopt.errors import ConfigError, HepoptError
from hepopt.models.params import TrainParams

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class SearchSpace:
    """Searched parameters (``ParamSpec``) and fixed ones; the rest keep hepopt's defaults."""

    searched: dict[str, ParamSpec]
    fixed: dict[str, Any]
    family: str = "mlp"

    @classmethod
    def from_config(cls, model: ModelConfig, source: str = "config") -> SearchSpace:
        """Check names and values now, so a typo fails before any data is read.

        Raises:
            ConfigError: naming ``model.family`` or ``model.space.<param>``.
        """
        try:
            known = TrainParams.names(model.family)
        except HepoptError as err:
            msg = f"{source}: model.family: {err}"
            raise ConfigError(msg) from err
        searched, fixed = {}, {}
        for name, value in model.space.items():
            if name not in known:
                what = (
                    "the family does not use this training parameter"
                    if name in TrainParams.training_names()
                    else "unknown hyperparameter of the family"
                )
                msg = f"{source}: model.space.{name}: {what} ({model.family}); known: {list(known)}"
                raise ConfigError(msg)
            if isinstance(value, ParamSpec):
                searched[name] = value
            else:
                fixed[name] = value
        for name, spec in searched.items():
            if spec.per_layer and (name != "units" or spec.type != "int" or "layer_units" not in known):
                msg = (
                    f"{source}: model.space.{name}: 'per_layer' is for the int parameter 'units' of a family "
                    "with 'n_layers' and 'layer_units' such as the mlp (one width per layer)"
                )
                raise ConfigError(msg)
        space = cls(searched, fixed, model.family)
        for name, spec in searched.items():
            ends: list[Any] = (spec.choices or []) if spec.type == "categorical" else [spec.low, spec.high]
            for value in ends:
                space._check(source, name, {**space.baseline(), name: value})
        space._check(source, None, space.baseline())
        return space

    def _check(self, source: str, name: str | None, values: dict[str, Any]) -> None:
        try:
            TrainParams.from_mapping(values)
        except (ValueError, TypeError, KeyError) as err:
            bad = name or next((n for n in values if f"'{n}'" in str(err)), "")
            msg = f"{source}: model.space.{bad}: {err}"
            raise ConfigError(msg) from err

    def baseline(self) -> dict[str, Any]:
        """hepopt's default hyperparameters with the fixed ones applied: the baseline model."""
        return {**TrainParams.from_mapping({"family": self.family}).to_dict(), **self.fixed}

    def defaults_point(self) -> dict[str, Any] | None:
        """hepopt's defaults as a point of this space (its searched parameters only), to run as a
        trial; None when a default lies outside its range or off its step (e.g. l2 = 0 with a
        log-uniform range), where Optuna cannot take it."""
        baseline, point = self.baseline(), dict[str, Any]()
        for name, spec in self.searched.items():
            if spec.per_layer:
                width = baseline["units"]
                point |= {f"{name}_{i}": width for i in range(int(baseline.get("n_layers", 0)))}
                values = [width]
            else:
                point[name] = baseline[name]
                values = [baseline[name]]
            if not all(_takes(spec, value) for value in values):
                return None
        return point

    def grid(self, source: str = "config") -> dict[str, list[Any]]:
        """The values the grid sampler walks through: categorical choices, int ranges, and float
        ranges with a ``step``.

        Raises:
            ConfigError: for a float parameter without ``step``.
        """
        grid: dict[str, list[Any]] = {}
        for name, spec in self.searched.items():
            if spec.per_layer:
                msg = (
                    f"{source}: model.space.{name}: the grid sampler cannot walk per-layer widths; use another sampler"
                )
                raise ConfigError(msg)
            if spec.type == "categorical":
                grid[name] = list(spec.choices or [])
            elif spec.type == "int":
                grid[name] = list(range(int(spec.low), int(spec.high) + 1, int(spec.step or 1)))  # type: ignore[arg-type]
            elif spec.step:
                n = round((spec.high - spec.low) / spec.step) + 1  # type: ignore[operator]
                grid[name] = [float(spec.low + i * spec.step) for i in range(n)]  # type: ignore[operator]
            else:
                msg = f"{source}: model.space.{name}: the grid sampler needs a 'step' for float parameters"
                raise ConfigError(msg)
        return grid

    def check_point(self, point: dict[str, Any], where: str) -> None:
        """An enqueued point may only name searched parameters, with values they can take."""
        for name, value in point.items():
            if _is_layer_width(name) and "units" in self.searched and self.searched["units"].per_layer:
                name = "units"
            if name not in self.searched:
                msg = f"{where}: '{name}' is not a searched parameter; searched: {sorted(self.searched)}"
                raise ConfigError(msg)
            spec = self.searched[name]
            ok = value in (spec.choices or []) if spec.type == "categorical" else spec.low <= value <= spec.high
            if not ok:
                msg = f"{where}: {name} = {value!r} is outside its search range"
                raise ConfigError(msg)

    def sample(self, trial: optuna.Trial) -> TrainParams:
        sampled: dict[str, Any] = {}
        # The depth first: per-layer widths exist only for the layers it gives (define-by-run).
        for name in sorted(self.searched, key=lambda n: n != "n_layers"):
            spec = self.searched[name]
            if spec.per_layer:
                depth = int(sampled.get("n_layers", self.baseline()["n_layers"]))
                sampled |= {f"{name}_{i}": _suggest(trial, f"{name}_{i}", spec) for i in range(depth)}
            else:
                sampled[name] = _suggest(trial, name, spec)
        return TrainParams.from_mapping(self.values(sampled))

    def values(self, sampled: dict[str, Any]) -> dict[str, Any]:
        """All hyperparameters for a trial's sampled ones (Optuna's ``trial.params``): the
        baseline, the sampled values, per-layer widths ``units_0..`` gathered into
        ``layer_units`` up to the depth."""
        values = {**self.baseline(), **{k: v for k, v in sampled.items() if not _is_layer_width(k)}}
        depth = int(values.get("n_layers", 0))
        widths = [sampled[f"units_{i}"] for i in range(depth) if f"units_{i}" in sampled]
        if widths:
            values["layer_units"], values["units"] = tuple(int(w) for w in widths), int(widths[0])
        return values


def _takes(spec: ParamSpec, value: Any) -> bool:
    """Whether Optuna's ``suggest_*`` for ``spec`` can give ``value``."""
    if spec.type == "categorical":
        return value in (spec.choices or [])
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not spec.low <= value <= spec.high:  # type: ignore[operator]
        return False
    if spec.type == "int" and value != int(value):
        return False
    step = spec.step or (1 if spec.type == "int" else None)
    return step is None or abs((value - spec.low) / step - round((value - spec.low) / step)) < 1e-9  # type: ignore[operator]


def _is_layer_width(name: str) -> bool:
    return name.startswith("units_") and name.removeprefix("units_").isdigit()


def _suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    if spec.type == "categorical":
        return trial.suggest_categorical(name, spec.choices)  # type: ignore[arg-type]
    if spec.type == "int":
        step = int(spec.step) if spec.step else 1
        return trial.suggest_int(name, int(spec.low), int(spec.high), step=step, log=spec.log)  # type: ignore[arg-type]
    return trial.suggest_float(name, spec.low, spec.high, step=spec.step, log=spec.log)  # type: ignore[arg-type]
