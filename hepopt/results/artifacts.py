"""Files a study leaves in the output folder: trials as CSV, JSON summaries."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import optuna

_USER_COLUMNS = ("best_epoch", "epochs", "val_loss", "train_seconds", "fail_reason")


def write_trials_csv(study: optuna.Study, path: Path, objective_names: list[str] | None = None) -> None:
    """One row per trial: number, state, value (one column per objective in a multi-objective
    study), duration, every parameter, training details."""
    n_values = len(study.directions)
    value_columns = ["value"] if n_values == 1 else [f"value:{n}" for n in (objective_names or range(n_values))]
    trials = study.get_trials(deepcopy=False)
    param_names = sorted({name for t in trials for name in t.params})
    extra_names = sorted({k for t in trials for k in t.user_attrs} - set(_USER_COLUMNS))
    header = ["number", "state", *value_columns, "duration_s", *param_names, *_USER_COLUMNS, *extra_names]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for t in trials:
            duration = t.duration.total_seconds() if t.duration else ""
            values = t.values if t.values is not None else [""] * n_values
            row = [t.number, t.state.name, *values, duration]
            row += [t.params.get(name, "") for name in param_names]
            row += [t.user_attrs.get(name, "") for name in (*_USER_COLUMNS, *extra_names)]
            writer.writerow(row)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(data), indent=2, sort_keys=False) + "\n")


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null rather than produce an unreadable file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
