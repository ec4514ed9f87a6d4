"""The binned likelihood of ``robust_significance`` written in torch, so that it can be
differentiated with respect to the histograms themselves (inference-aware training).

pyhf 0.7's torch backend differentiates with respect to the parameters, but not with respect to
the yields: they enter through ``pyhf.Model``'s construction, which converts them to numpy. This
module is the same model as :func:`hepopt.stats.histosys.histosys_spec` builds: one channel, a
``mu`` normfactor on the signal samples, a ``histosys`` per nuisance (pyhf's interpolation code0
or code4p), and optionally the MC statistical ``staterror`` (one gamma per bin, shared by the
samples, with pyhf's Gaussian constraint of width sqrt(sum delta^2) / sum nominal). Its
``logpdf`` equals ``pyhf.Model.logpdf`` (main Poisson terms with the continuous lgamma, and the
constraint terms), and the tests compare the two, and its Fisher information with a numerical
Hessian of pyhf's, so the two cannot drift.

Parameters are ordered ``[mu, alpha_1..alpha_N, gamma_1..gamma_B]`` (nuisances in the order
given, gammas only with ``staterror``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

INTERPOLATIONS = ("code0", "code4p")


@dataclass(frozen=True)
class BinnedLikelihood:
    """One channel of binned yields; every tensor may require grad (float64 advised).

    Attributes:
        nominal: ``[samples, bins]`` expected yields at the nominal parameters.
        signal: ``[samples]`` bool, the samples scaled by ``mu``.
        up, down: ``[nuisances, samples, bins]`` the histosys templates (equal to ``nominal``
            where a nuisance does not affect a sample).
        mc_error: ``[samples, bins]`` absolute MC uncertainty (sqrt of the sum of squared
            weights) for the staterror, or None for no MC statistics in the model.
        interpolation: pyhf's histosys interpolation, ``code0`` (its default, piecewise linear)
            or ``code4p`` (polynomial inside abs(alpha) < 1, smooth at 0: what a Fisher
            information at alpha = 0 needs).
        constraint_width: ``[nuisances]`` the width of each alpha's Gaussian constraint, or None
            for pyhf's unit width (the only one pyhf's histosys has); ``inf`` leaves a nuisance
            unconstrained (free in the fit, as INFERNO's benchmarks 1 and 2 have it).
    """

    nominal: torch.Tensor
    signal: torch.Tensor
    up: torch.Tensor | None = None
    down: torch.Tensor | None = None
    mc_error: torch.Tensor | None = None
    interpolation: str = "code4p"
    constraint_width: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            msg = f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}"
            raise ValueError(msg)

    @property
    def n_nuisances(self) -> int:
        return 0 if self.up is None else int(self.up.shape[0])

    @property
    def n_parameters(self) -> int:
        gammas = 0 if self.mc_error is None else int(self.nominal.shape[1])
        return 1 + self.n_nuisances + gammas

    def nominal_parameters(self) -> torch.Tensor:
        """mu = 1, every alpha 0, every gamma 1 (where the Asimov data are made)."""
        pars = torch.zeros(self.n_parameters, dtype=self.nominal.dtype, device=self.nominal.device)
        pars[0] = 1.0
        pars[1 + self.n_nuisances :] = 1.0
        return pars

    def alpha_widths(self) -> torch.Tensor:
        """``[nuisances]``: each alpha's constraint width (inf: unconstrained)."""
        if self.constraint_width is None:
            return torch.ones(self.n_nuisances, dtype=self.nominal.dtype, device=self.nominal.device)
        return self.constraint_width.to(self.nominal.dtype)

    def relative_mc_error(self) -> torch.Tensor:
        """Per bin, the staterror constraint's width: sqrt(sum_s delta_sb^2) / sum_s nominal_sb."""
        assert self.mc_error is not None
        return torch.sqrt((self.mc_error**2).sum(0)) / self.nominal.sum(0)

    def expected(self, pars: torch.Tensor) -> torch.Tensor:
        """Expected events per bin at ``pars``."""
        yields = self.nominal
        if self.up is not None and self.down is not None:
            alphas = pars[1 : 1 + self.n_nuisances]
            yields = yields + _interpolate(alphas, self.up - self.nominal, self.nominal - self.down, self.interpolation)
        mu = torch.where(self.signal, pars[0], torch.ones_like(pars[0]))
        yields = yields * mu[:, None]
        if self.mc_error is not None:
            yields = yields * pars[1 + self.n_nuisances :][None, :]
        return yields.sum(0)

    def asimov_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Observed counts and auxiliary data of the nominal prediction."""
        pars = self.nominal_parameters()
        aux = pars[1:]  # alphas 0, gammas 1: where the constraints are centred
        return self.expected(pars), aux

    def logpdf(self, pars: torch.Tensor, data: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        """log L: Poisson of ``data`` (continuous: lgamma) times the Gaussian constraints."""
        lam = self.expected(pars)
        main = (data * torch.log(lam) - lam - torch.lgamma(data + 1.0)).sum()
        n = self.n_nuisances
        width = self.alpha_widths()
        bound = torch.isfinite(width)  # an unconstrained alpha has no constraint term
        constraint = _normal_logpdf(aux[:n][bound], pars[1 : 1 + n][bound], width[bound]).sum()
        if self.mc_error is not None:
            constraint = constraint + _normal_logpdf(aux[n:], pars[1 + n :], self.relative_mc_error()).sum()
        return main + constraint

    def fisher_information(self) -> torch.Tensor:
        """The Hessian of -log L on the Asimov data at the nominal parameters, differentiable with
        respect to the yields. There the Poisson terms' Hessian is exactly J^T diag(1/lambda) J
        (J = d lambda / d theta: the terms with the second derivatives of lambda carry a factor
        1 - n/lambda = 0), plus the constraints' 1 and 1/sigma^2: a few small matrix products
        instead of a double backward (code4p; code0 has no derivative at alpha = 0 and takes
        :meth:`fisher_information_autograd`)."""
        if self.interpolation != "code4p":
            return self.fisher_information_autograd()
        lam = self.nominal.sum(0)
        columns = [(self.nominal * self.signal[:, None]).sum(0)]  # d lambda / d mu
        if self.up is not None and self.down is not None:  # code4p at 0: (delta_up + delta_down) / 2
            columns += list((0.5 * (self.up - self.down)).sum(1))
        jacobian = torch.stack(columns, dim=1)
        if self.mc_error is not None:  # d lambda_b / d gamma_c = lambda_b at gamma = 1, bin b = c only
            jacobian = torch.cat([jacobian, torch.diag(lam)], dim=1)
        information = jacobian.T @ (jacobian / lam[:, None])
        zero = torch.zeros(1, dtype=lam.dtype, device=lam.device)
        extra = torch.cat([zero, 1.0 / self.alpha_widths() ** 2])  # mu is free; 1/inf^2 = 0
        if self.mc_error is not None:
            extra = torch.cat([extra, 1.0 / self.relative_mc_error() ** 2])
        return information + torch.diag(extra)

    def fisher_information_autograd(self) -> torch.Tensor:
        """The same Hessian by automatic differentiation of :meth:`logpdf` (any interpolation)."""
        with torch.enable_grad():  # the Hessian needs autograd, even where the caller turned it off
            data, aux = self.asimov_data()
            pars = self.nominal_parameters().detach().requires_grad_(True)
            nll = -self.logpdf(pars, data, aux)
            (gradient,) = torch.autograd.grad(nll, pars, create_graph=True)
            rows = [torch.autograd.grad(gradient[i], pars, create_graph=True)[0] for i in range(len(pars))]
            return torch.stack(rows)

    def sigma_mu(self) -> torch.Tensor:
        """The expected uncertainty on mu with every nuisance profiled: sqrt((I^-1)_00)."""
        return torch.sqrt(torch.linalg.inv(self.fisher_information())[0, 0])


def _interpolate(alphas: torch.Tensor, delta_up: torch.Tensor, delta_down: torch.Tensor, code: str) -> torch.Tensor:
    """Sum over nuisances of pyhf's histosys shift (``[samples, bins]``)."""
    a = alphas[:, None, None]
    if code == "code0":
        shift = torch.where(a > 0, a * delta_up, a * delta_down)
    else:  # code4p: linear outside |alpha| <= 1, a 6th-order polynomial inside, as pyhf
        s, asym = 0.5 * (delta_up + delta_down), 0.0625 * (delta_up - delta_down)
        a2 = a * a
        inside = a * s + a2 * (a2 * (3.0 * a2 - 10.0) + 15.0) * asym
        shift = torch.where(a > 1, a * delta_up, torch.where(a < -1, a * delta_down, inside))
    return shift.sum(0)


def _normal_logpdf(x: torch.Tensor, mean: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((x - mean) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)
