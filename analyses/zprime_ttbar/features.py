"""Features of the Z' -> tt analysis that expressions cannot write, as a hepopt feature callable.

hepopt calls ``jets_mass(events)`` on each chunk of selected events (coffea NanoEvents) and takes
every entry of the returned dict as a feature. It reads ``Jet.pt`` with ``data.schema: nanoaod``
(collections) and ``Jet_pt`` with ``base`` (flat branches): :func:`column` looks up either.
"""

from __future__ import annotations

import awkward as ak
import numpy as np


def column(events: ak.Array, collection: str, field: str) -> ak.Array:
    """``collection.field`` under NanoAODSchema, ``collection_field`` under BaseSchema."""
    if collection in events.fields:
        return events[collection][field]
    return events[f"{collection}_{field}"]


def jets_mass(events: ak.Array) -> dict[str, np.ndarray]:
    """Invariant mass of all jets and of the lepton + jets + MET system (a m_tt proxy)."""
    pt, eta, phi, mass = (column(events, "Jet", f) for f in ("pt", "eta", "phi", "mass"))
    px, py = ak.sum(pt * np.cos(phi), axis=1), ak.sum(pt * np.sin(phi), axis=1)
    pz = ak.sum(pt * np.sinh(eta), axis=1)
    energy = ak.sum(np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2), axis=1)
    m_jets = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))

    lep_pt, lep_eta, lep_phi = (
        ak.concatenate([column(events, "Muon", f), column(events, "Electron", f)], axis=1) for f in ("pt", "eta", "phi")
    )
    lead = ak.argmax(lep_pt, axis=1, keepdims=True)
    lpt, leta, lphi = (ak.fill_none(ak.firsts(x[lead]), 0.0) for x in (lep_pt, lep_eta, lep_phi))
    met_pt, met_phi = column(events, "MET", "pt"), column(events, "MET", "phi")
    met_px, met_py = met_pt * np.cos(met_phi), met_pt * np.sin(met_phi)
    sys_px = px + lpt * np.cos(lphi) + met_px
    sys_py = py + lpt * np.sin(lphi) + met_py
    sys_pz = pz + lpt * np.sinh(leta)
    sys_e = energy + lpt * np.cosh(leta) + met_pt
    m_system = np.sqrt(np.maximum(sys_e**2 - sys_px**2 - sys_py**2 - sys_pz**2, 0.0))
    return {"m_jets": ak.to_numpy(m_jets), "m_system": ak.to_numpy(m_system)}
