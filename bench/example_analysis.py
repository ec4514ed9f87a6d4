"""The example analysis as benchmarks use it: fresh samples in a temporary folder and a config
(as a dict) pointing at them."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ANALYSIS = Path(__file__).resolve().parents[1] / "analyses" / "zprime_ttbar"


def example_config(config_name: str, scale: float, prefix: str) -> tuple[dict[str, Any], Path]:
    """``analyses/zprime_ttbar/<config_name>`` with its samples written at ``scale`` into a new
    temporary folder, without the feature callable (the benchmarks time hepopt, not the example's
    Python); returns the config dict and the folder."""
    import yaml

    sys.path.insert(0, str(ANALYSIS))
    import make_samples

    work = Path(tempfile.mkdtemp(prefix=prefix))
    make_samples.make_samples(work / "samples", scale=scale)
    raw = yaml.safe_load((ANALYSIS / config_name).read_text())
    raw = json.loads(json.dumps(raw).replace("samples/", f"{work / 'samples'}/"))
    raw["features"] = [f for f in raw["features"] if not (isinstance(f, dict) and "callable" in f)]
    return raw, work
