"""The one pyhf fit hepopt makes: the discovery test statistic q0 on the Asimov data set of a
model's nominal expectation, every nuisance parameter profiled (none in a stat-only model)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


@contextmanager
def numpy_scipy_backend() -> Iterator[None]:
    """Use pyhf's numpy backend with the scipy optimizer here only, restoring the caller's."""
    import pyhf

    previous = pyhf.get_backend()
    # minuit with iminuit >= 2.32 crashes on a POI-only model: scipy works (environment notes).
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    try:
        yield
    finally:
        pyhf.set_backend(*previous)


def asimov_discovery_significance(spec: dict[str, Any]) -> float:
    """Z0 = sqrt(q0) on the Asimov data of ``spec`` (its expectation at the suggested initial
    values: mu = 1, nuisance parameters nominal), all nuisance parameters profiled.

    sqrt(q0) is used rather than Phi^-1(1 - p0), which is the same number asymptotically but
    overflows to infinity above ~8 sigma.
    """
    import pyhf

    with numpy_scipy_backend():
        model = pyhf.Model(spec, poi_name="mu", validate=False)
        init = model.config.suggested_init()
        data = pyhf.tensorlib.astensor([*model.expected_actualdata(init), *model.config.auxdata])
        q0 = pyhf.infer.test_statistics.q0(
            0.0, data, model, init, model.config.suggested_bounds(), model.config.suggested_fixed()
        )
    return float(np.sqrt(max(float(q0), 0.0)))


def asimov_workspace(spec: dict[str, Any], measurement: str) -> dict[str, Any]:
    """A complete pyhf workspace of ``spec``: its Asimov data as the observations (each channel's
    samples summed, as :func:`asimov_discovery_significance` fits them) and one measurement with
    ``mu`` as the parameter of interest. ``pyhf.Workspace(...)`` loads it; a fit of it gives the
    same significance."""
    observations = [
        {"name": channel["name"], "data": [float(v) for v in np.sum([s["data"] for s in channel["samples"]], axis=0)]}
        for channel in spec["channels"]
    ]
    return {
        **spec,
        "observations": observations,
        "measurements": [{"name": measurement, "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
