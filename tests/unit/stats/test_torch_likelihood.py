"""The torch likelihood of inference-aware training is pyhf's: the same logpdf (to 1e-8), the
same expected uncertainty on mu (a numerical Hessian of pyhf's logpdf, to 1e-4), a closed form
without nuisances, and gradients with respect to the yields that match finite differences."""

from __future__ import annotations

import numpy as np
import pyhf
import pytest
import torch

from hepopt.stats.histosys import histosys_spec
from hepopt.stats.torch_likelihood import BinnedLikelihood

RNG = np.random.default_rng(11)
BINS = 6
NOMINAL = {"sig": RNG.uniform(2, 20, BINS), "bkg1": RNG.uniform(50, 200, BINS), "bkg2": RNG.uniform(10, 60, BINS)}
UP = {"bkg1": NOMINAL["bkg1"] * RNG.uniform(1.02, 1.15, BINS), "sig": NOMINAL["sig"] * RNG.uniform(0.95, 1.1, BINS)}
DOWN = {"bkg1": NOMINAL["bkg1"] * RNG.uniform(0.85, 0.99, BINS), "sig": NOMINAL["sig"] * RNG.uniform(0.9, 1.05, BINS)}
SHAPE = {"bkg2": NOMINAL["bkg2"] * np.linspace(0.9, 1.1, BINS)}  # one-sided: mirrored
MC_ERROR = {name: np.sqrt(values) * RNG.uniform(0.3, 1.0, BINS) for name, values in NOMINAL.items()}
SAMPLES = list(NOMINAL)


def pyhf_model(mc_stat: bool, code: str) -> pyhf.pdf.Model:
    templates = {
        "jes": {s: (UP[s], DOWN[s]) for s in UP},
        "shape": {"bkg2": (SHAPE["bkg2"], 2 * NOMINAL["bkg2"] - SHAPE["bkg2"])},
    }
    spec = histosys_spec(NOMINAL, {"sig"}, templates, MC_ERROR if mc_stat else None)
    return pyhf.Model(spec, poi_name="mu", modifier_settings={"histosys": {"interpcode": code}})


def torch_model(mc_stat: bool, code: str, nominal: torch.Tensor | None = None) -> BinnedLikelihood:
    nom = torch.tensor(np.array([NOMINAL[s] for s in SAMPLES])) if nominal is None else nominal
    up = nom.detach().clone().repeat(2, 1, 1)
    down = nom.detach().clone().repeat(2, 1, 1)
    for i, s in enumerate(SAMPLES):
        if s in UP:
            up[0, i], down[0, i] = torch.tensor(UP[s]), torch.tensor(DOWN[s])
    up[1, 2] = torch.tensor(SHAPE["bkg2"])
    down[1, 2] = torch.tensor(2 * NOMINAL["bkg2"] - SHAPE["bkg2"])
    # templates as shifts from the (possibly differentiable) nominal, so gradients flow through them
    up, down = nom + (up - nom.detach()), nom + (down - nom.detach())
    errors = torch.tensor(np.array([MC_ERROR[s] for s in SAMPLES])) if mc_stat else None
    return BinnedLikelihood(nom, torch.tensor([True, False, False]), up, down, errors, code)


def to_torch_order(model: pyhf.pdf.Model, pars: np.ndarray, mc_stat: bool) -> torch.Tensor:
    """pyhf's parameter vector in the torch model's order: mu, jes, shape, gammas."""
    names = ["mu", "jes", "shape"] + (["mc_stat"] if mc_stat else [])
    return torch.tensor(np.concatenate([np.atleast_1d(pars[model.config.par_slice(n)]) for n in names]))


@pytest.fixture(autouse=True)
def numpy_backend() -> object:
    backend = pyhf.get_backend()
    pyhf.set_backend("numpy")
    yield
    pyhf.set_backend(*backend)


@pytest.mark.parametrize("code", ["code0", "code4p"])
@pytest.mark.parametrize("mc_stat", [False, True])
def test_logpdf_equals_pyhf(code: str, mc_stat: bool) -> None:
    model, ours = pyhf_model(mc_stat, code), torch_model(mc_stat, code)
    for trial in range(8):
        pars = np.array(model.config.suggested_init(), dtype=float)
        for name, low, high in (("mu", 0.2, 3.0), ("jes", -2.0, 2.0), ("shape", -1.5, 1.5)):
            pars[model.config.par_slice(name)] = RNG.uniform(low, high)  # |alpha| > 1 and < 1 both
        if mc_stat:
            pars[model.config.par_slice("mc_stat")] = RNG.uniform(0.9, 1.1, BINS)
        main = np.asarray(model.expected_actualdata(pars)) * RNG.uniform(0.8, 1.2, BINS)
        aux = np.asarray(model.config.auxdata) + RNG.normal(0, 0.05, len(model.config.auxdata))
        expected = float(model.logpdf(pars, np.concatenate([main, aux]))[0])
        got = ours.logpdf(
            to_torch_order(model, pars, mc_stat), torch.tensor(main), to_torch_order_aux(model, aux, mc_stat)
        )
        assert float(got) == pytest.approx(expected, rel=1e-8, abs=1e-8), f"trial {trial}"


def to_torch_order_aux(model: pyhf.pdf.Model, aux: np.ndarray, mc_stat: bool) -> torch.Tensor:
    """pyhf's auxiliary data (ordered by its constrained parameters) in the torch order."""
    order = [p for p in model.config.par_order if p != "mu"]
    sizes = {p: model.config.param_set(p).n_parameters for p in order}
    parts, start = {}, 0
    for p in order:
        parts[p] = aux[start : start + sizes[p]]
        start += sizes[p]
    names = ["jes", "shape"] + (["mc_stat"] if mc_stat else [])
    return torch.tensor(np.concatenate([parts[n] for n in names]))


@pytest.mark.parametrize("mc_stat", [False, True])
def test_sigma_mu_equals_a_numerical_hessian_of_pyhf(mc_stat: bool) -> None:
    model, ours = pyhf_model(mc_stat, "code4p"), torch_model(mc_stat, "code4p")
    init = np.array(model.config.suggested_init(), dtype=float)
    data = model.expected_data(init)  # Asimov: main and auxiliary data of the nominal prediction

    def nll(p: np.ndarray) -> float:
        return -float(model.logpdf(p, data)[0])

    n, h = len(init), 1e-4
    hessian = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            hessian[i, j] = (
                nll(init + e_i + e_j) - nll(init + e_i - e_j) - nll(init - e_i + e_j) + nll(init - e_i - e_j)
            ) / (4 * h * h)
    poi = model.config.poi_index
    expected = float(np.sqrt(np.linalg.inv(hessian)[poi, poi]))
    assert float(ours.sigma_mu().detach()) == pytest.approx(expected, rel=1e-4)
    # the systematics (and MC statistics) only widen it
    assert float(ours.sigma_mu().detach()) > float(BinnedLikelihood(ours.nominal, ours.signal).sigma_mu().detach())


def test_without_nuisances_sigma_mu_is_the_closed_form() -> None:
    s, b = torch.tensor(NOMINAL["sig"]), torch.tensor(NOMINAL["bkg1"] + NOMINAL["bkg2"])
    ours = BinnedLikelihood(torch.stack([s, b]), torch.tensor([True, False]))
    assert float(ours.sigma_mu().detach()) == pytest.approx(float(1 / torch.sqrt((s**2 / (s + b)).sum())), rel=1e-10)


def test_the_gradient_with_respect_to_the_yields_matches_finite_differences() -> None:
    nominal = torch.tensor(np.array([NOMINAL[s] for s in SAMPLES]), requires_grad=True)
    sigma = torch_model(True, "code4p", nominal).sigma_mu()
    (gradient,) = torch.autograd.grad(sigma, nominal)
    h = 1e-5
    for sample, b in ((0, 1), (1, 3), (2, 5)):
        shifted = [nominal.detach().clone() for _ in range(2)]
        shifted[0][sample, b] += h
        shifted[1][sample, b] -= h
        up, down = (float(torch_model(True, "code4p", x).sigma_mu().detach()) for x in shifted)
        assert float(gradient[sample, b]) == pytest.approx((up - down) / (2 * h), rel=1e-4)


@pytest.mark.parametrize("mc_stat", [False, True])
def test_the_closed_form_fisher_information_equals_the_double_backward(mc_stat: bool) -> None:
    ours = torch_model(mc_stat, "code4p")
    closed, automatic = ours.fisher_information(), ours.fisher_information_autograd()
    np.testing.assert_allclose(closed.detach().numpy(), automatic.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_the_closed_form_gradient_equals_the_double_backward_gradient() -> None:
    nominal = torch.tensor(np.array([NOMINAL[s] for s in SAMPLES]), requires_grad=True)
    model = torch_model(True, "code4p", nominal)
    closed = torch.sqrt(torch.linalg.inv(model.fisher_information())[0, 0])
    automatic = torch.sqrt(torch.linalg.inv(model.fisher_information_autograd())[0, 0])
    (g_closed,) = torch.autograd.grad(closed, nominal)
    (g_automatic,) = torch.autograd.grad(automatic, nominal)
    np.testing.assert_allclose(g_closed.numpy(), g_automatic.numpy(), rtol=1e-9, atol=1e-15)


def test_a_wider_constraint_is_the_same_information_as_larger_templates() -> None:
    """At alpha = 0 a constraint of width w on templates shifted by delta carries the information
    of a unit constraint on templates shifted by w * delta (alpha' = alpha / w): the second is
    the model pyhf has (tested above), the first INFERNO's benchmarks 3 and 4 need."""
    base = torch_model(False, "code4p")
    width = torch.tensor([2.0, 0.5], dtype=torch.float64)
    wide = BinnedLikelihood(base.nominal, base.signal, base.up, base.down, constraint_width=width)
    scale = width[:, None, None]
    scaled = BinnedLikelihood(
        base.nominal, base.signal, base.nominal + scale * (base.up - base.nominal),
        base.nominal + scale * (base.down - base.nominal),
    )  # fmt: skip
    assert float(wide.sigma_mu()) == pytest.approx(float(scaled.sigma_mu()), rel=1e-12)
    torch.testing.assert_close(wide.fisher_information(), wide.fisher_information_autograd(), rtol=1e-9, atol=1e-9)


def test_an_unconstrained_nuisance_is_the_limit_of_ever_wider_constraints() -> None:
    base = torch_model(True, "code4p")

    def sigma(widths: list[float]) -> float:
        model = BinnedLikelihood(
            base.nominal, base.signal, base.up, base.down, base.mc_error,
            constraint_width=torch.tensor(widths, dtype=torch.float64),
        )  # fmt: skip
        return float(model.sigma_mu())

    free = sigma([float("inf"), 1.0])
    assert free == pytest.approx(sigma([1e5, 1.0]), rel=1e-8)
    assert free > sigma([1.0, 1.0])
    # the logpdf of a free nuisance has no constraint term: only the Poisson and the other terms
    model = BinnedLikelihood(
        base.nominal, base.signal, base.up, base.down, constraint_width=torch.tensor([float("inf"), 1.0])
    )
    unit = BinnedLikelihood(base.nominal, base.signal, base.up, base.down)
    data, aux = unit.asimov_data()
    pars = unit.nominal_parameters() + torch.tensor([0.1, 0.7, -0.3], dtype=torch.float64)
    gaussian = -0.5 * 0.7**2 - 0.5 * np.log(2 * np.pi)
    assert float(model.logpdf(pars, data, aux)) == pytest.approx(
        float(unit.logpdf(pars, data, aux)) - gaussian, rel=1e-12
    )
