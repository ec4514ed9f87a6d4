from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from hepopt.data.expressions import Expression
from hepopt.errors import ConfigError

EVENTS = {
    "Jet_pt": ak.Array([[50.0, 20.0, 35.0], [], [30.0]]),
    "Jet.eta": ak.Array([[0.1, 3.0, -1.0], [], [-1.0]]),
    "MET_pt": np.array([10.0, 20.0, 30.0]),
    "MET_phi": np.array([3.0, -3.0, 0.0]),
}


def evaluate(text: str) -> list:
    return ak.to_list(Expression(text).evaluate(EVENTS.__getitem__))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nth(Jet_pt, 0, fill=-1)", [50.0, -1.0, 30.0]),
        ("nth(Jet_pt, 1, fill=0)", [20.0, 0.0, 0.0]),
        ("first(Jet_pt)", [50.0, -1.0, 30.0]),
        ("num(Jet_pt)", [3, 0, 1]),
        ("num(Jet_pt[abs(Jet.eta) < 2.4])", [2, 0, 1]),
        ("sum(Jet_pt[Jet_pt > 25])", [85.0, 0.0, 30.0]),
        ("max(Jet_pt)", [50.0, 0.0, 30.0]),
        ("min(Jet_pt, fill=-5)", [20.0, -5.0, 30.0]),
        ("MET_pt * 2 + 1", [21.0, 41.0, 61.0]),
        ("10 < MET_pt <= 20", [False, True, False]),
        ("(MET_pt > 15) & (num(Jet_pt) > 0)", [False, False, True]),
        ("~(MET_pt > 15) | (MET_pt > 25)", [True, False, True]),
        ("MET_pt > 15 and num(Jet_pt) > 0", [False, False, True]),
        ("MET_pt < 15 or num(Jet_pt) > 2", [True, False, False]),
        ("not MET_pt > 15", [True, False, False]),
        ("where(MET_pt > 15, MET_pt, 0)", [0.0, 20.0, 30.0]),
        ("sqrt(MET_pt**2)", [10.0, 20.0, 30.0]),
    ],
)
def test_expressions_match_hand_computation(text: str, expected: list) -> None:
    assert evaluate(text) == pytest.approx(expected)


def test_delta_phi_wraps_into_minus_pi_pi() -> None:
    got = np.array(evaluate("delta_phi(MET_phi, 0 * MET_phi - 3.0)"))
    want = np.array([6.0 - 2 * np.pi, 0.0, 3.0])
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_branches_are_collected_without_functions() -> None:
    expr = Expression("num(Jet_pt[abs(Jet.eta) < 2.4]) + MET_pt * pi")
    assert expr.branches == ("Jet_pt", "Jet.eta", "MET_pt")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('x')", "unknown function '__import__('os').system'"),
        ("open('f')", "unknown function 'open'"),
        ("Jet.__class__", "'Jet.__class__' is not a branch name"),
        ("lambda: 1", "'Lambda' syntax is not allowed"),
        ("[x for x in MET_pt]", "'ListComp' syntax is not allowed"),
        ("'text'", "constant 'text' is not a number"),
        ("MET_pt +", "cannot parse 'MET_pt +'"),
        ("MET_pt > 15 & num(Jet_pt) > 0", "'&' and '|' bind tighter than comparisons"),
    ],
)
def test_unsafe_or_broken_expressions_are_rejected(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Expression(text, "features.3 (x)")
    assert str(info.value).startswith("features.3 (x):")
    assert expected in str(info.value)
