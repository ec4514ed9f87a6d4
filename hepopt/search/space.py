"""The hyperparameter search space declared under ``model.space`` in the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hepopt.config.schema import ModelConfig, ParamSpec
from hepopt.errors import ConfigError
from hepopt.training.params import TrainParams

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class SearchSpace:
    """Searched parameters (``ParamSpec``) and fixed ones; the rest keep hepopt's defaults."""

    searched: dict[str, ParamSpec]
    fixed: dict[str, Any]

    @classmethod
    def from_config(cls, model: ModelConfig, source: str = "config") -> SearchSpace:
        """Check names and values now, so a typo fails before any data is read.

        Raises:
            ConfigError: naming ``model.space.<param>``.
        """
        known = TrainParams.names()
        searched, fixed = {}, {}
        for name, value in model.space.items():
            if name not in known:
                msg = f"{source}: model.space.{name}: unknown hyperparameter; known: {list(known)}"
                raise ConfigError(msg)
            if isinstance(value, ParamSpec):
                searched[name] = value
            else:
                fixed[name] = value
        space = cls(searched, fixed)
        for name, spec in searched.items():
            values = spec.choices if spec.type == "categorical" else [spec.low, spec.high]
            for value in values or []:
                space._check(source, name, {**space.baseline(), name: value})
        space._check(source, None, space.baseline())
        return space

    def _check(self, source: str, name: str | None, values: dict[str, Any]) -> None:
        try:
            TrainParams.from_mapping(values)
        except (ValueError, TypeError) as err:
            bad = name or next((n for n in values if f"'{n}'" in str(err)), "")
            msg = f"{source}: model.space.{bad}: {err}"
            raise ConfigError(msg) from err

    def baseline(self) -> dict[str, Any]:
        """hepopt's default hyperparameters with the fixed ones applied: the baseline model."""
        return {**TrainParams().to_dict(), **self.fixed}

    def sample(self, trial: optuna.Trial) -> TrainParams:
        values = self.baseline()
        for name, spec in self.searched.items():
            values[name] = _suggest(trial, name, spec)
        return TrainParams.from_mapping(values)


def _suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    if spec.type == "categorical":
        return trial.suggest_categorical(name, spec.choices)  # type: ignore[arg-type]
    if spec.type == "int":
        step = int(spec.step) if spec.step else 1
        return trial.suggest_int(name, int(spec.low), int(spec.high), step=step, log=spec.log)  # type: ignore[arg-type]
    return trial.suggest_float(name, spec.low, spec.high, step=spec.step, log=spec.log)  # type: ignore[arg-type]
