"""Profile-likelihood confidence intervals for GLMMs (lme4's ``confint(glmer_fit)``).

As lme4's ``profile.merMod`` for a GLMM: the criterion is the second-stage deviance
``-2 log L(theta, beta)`` (Laplace or adaptive quadrature, PIRLS over the modes), the
variance parameters are taken on the SD / correlation scale, and for each parameter the
deviance is minimised over all the others with that one held fixed; the interval ends
are where the signed square root of the increase reaches the normal quantile.  The
search for the ends and the inner quasi-Newton minimiser are those of the LMM profile
(:mod:`mixedmodels.inference.confint`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..interfaces import FloatArray
from .profile import _minimize, _Path, profile_ends
from .variance_parameters import _VarianceMap, variance_parameter_names

__all__ = ["glmm_profile_intervals"]


class _GLMMProfiler:
    """Profiles of the deviance of a GLMM in (SDs/correlations, fixed effects)."""

    def __init__(self, result: Any) -> None:
        if result.nb_size is not None or result.dispersion is not None:
            raise NotImplementedError(
                "profile intervals for GLMMs with a size or dispersion parameter are not "
                "implemented; use method='wald' or 'boot'"
            )
        if result.nagq == 0:
            raise NotImplementedError(
                "profile intervals need the Laplace or quadrature criterion; this fit used "
                "the fast mode (nAGQ = 0): refit with nagq >= 1"
            )
        self.result = result
        self.problem = result._problem
        self.nagq = int(result.nagq)
        self.vmap = _VarianceMap(result.model)
        self.kv = self.vmap.n - 1  # the map's last slot is sigma, fixed at 1 here
        theta_hat = np.asarray(result.theta, dtype=np.float64)
        self.beta_hat = np.asarray(result.fixef, dtype=np.float64)
        self.psi_hat = self.vmap.from_theta(theta_hat, 1.0)[: self.kv]
        self.x_hat = np.concatenate([self.psi_hat, self.beta_hat])
        p = self.beta_hat.size
        self.lower = np.concatenate([self.vmap.lower[: self.kv], np.full(p, -np.inf)])
        self.upper = np.concatenate([self.vmap.upper[: self.kv], np.full(p, np.inf)])
        self.sd_mask = np.concatenate([self.vmap.sd_mask[: self.kv], np.zeros(p, bool)])
        self.cor_mask = np.concatenate([self.vmap.cor_mask[: self.kv], np.zeros(p, bool)])
        self.evaluations = 0
        self.base = self.deviance(self.x_hat)
        from ..numerics.derivatives import richardson_derivatives

        # Steps in units of the covariates (decision 0014): the difference scheme's
        # steps are relative above 1 and absolute below, so a slope per microunit
        # (1e-7) would be stepped by 1e-3.
        D = _unit_scales(result, self.vmap, self.kv)
        _, _, hess = richardson_derivatives(
            lambda z: np.array([self.deviance(z * D)]), self.x_hat / D, step=1e-3, r=2
        )
        assert hess is not None
        self.H = (hess[0] + hess[0].T) / 2.0 / np.outer(D, D)
        try:
            se = np.sqrt(np.diag(2.0 * np.linalg.inv(self.H)))
        except np.linalg.LinAlgError:
            se = np.full(self.x_hat.size, np.nan)
        fallback = 0.1 * np.maximum(np.abs(self.x_hat), 1e-2)
        self.se = np.where(np.isfinite(se) & (se > 0), se, fallback)

    def deviance(self, x: FloatArray) -> float:
        """``-2 log L`` at SDs/correlations and fixed effects ``x``; an SD enters by its
        absolute value (the deviance is even in a scalar term's SD)."""
        if np.any(np.abs(x[self.cor_mask]) > 1.0):
            return np.inf
        x = np.where(self.sd_mask, np.abs(x), x)
        theta, _ = self.vmap.to_theta(np.concatenate([x[: self.kv], [1.0]]))
        beta = x[self.kv :]
        self.evaluations += 1
        P = self.problem
        value = P.agq(theta, beta, self.nagq) if self.nagq > 1 else P.laplace(theta, beta)
        return float(value)

    def zeta(self, w: int, value: float, path: _Path) -> float:
        """Signed root of the profiled deviance increase with parameter ``w`` at ``value``."""
        free = np.array([i for i in range(self.x_hat.size) if i != w])
        scale = self.se[free]
        Hff = self.H[np.ix_(free, free)]
        slope = -np.linalg.lstsq(Hff, self.H[free, w], rcond=None)[0]
        if path.xs:
            i = int(np.argmin(np.abs(np.asarray(path.xs) - value)))
            start = path.nuis[i] + slope * (value - path.xs[i])
        else:
            start = self.x_hat[free] + slope * (value - self.x_hat[w])

        def f(y: FloatArray) -> float:
            x = np.empty(self.x_hat.size)
            x[w] = value
            x[free] = y * scale
            return self.deviance(x)

        y, val = _minimize(
            f,
            start / scale,
            self.lower[free] / scale,
            self.upper[free] / scale,
            Hff * np.outer(scale, scale),
            h=1e-4,
        )
        path.xs.append(value)
        path.nuis.append(y * scale)
        dev = max(val - self.base, 0.0)
        z = math.copysign(math.sqrt(dev), value - self.x_hat[w])
        path.zetas.append(z)
        return z


def _unit_scales(result: Any, vmap: _VarianceMap, kv: int) -> FloatArray:
    """Per profiled parameter, the natural unit of its covariate: ``1 / rms(column)``
    for the SD of a random-effect column and for a fixed effect whose column the fit
    standardised (decision 0014); 1 otherwise (intercepts, indicators, correlations,
    fits on the user's matrices, which keep their numbers)."""
    model = result.model
    p = int(np.asarray(model.X).shape[1])
    D = np.ones(kv + p)
    if getattr(result._problem, "transform", None) is None:
        return D

    def unit(x: FloatArray) -> float:
        x = np.asarray(x, dtype=np.float64)
        if np.all((x == 0.0) | (x == 1.0)):
            return 1.0
        rms = float(np.sqrt(np.mean(x * x)))
        return 1.0 / rms if np.isfinite(rms) and rms > 0.0 else 1.0

    off = 0
    for block, size, term in zip(vmap.blocks, vmap.sizes, model.terms, strict=True):
        for i, (r, c) in enumerate(block.pairs):
            if r == c:
                D[off + i] = unit(np.asarray(term.Z)[:, r])
        off += size
    for j in range(p):
        D[kv + j] = unit(np.asarray(model.X)[:, j])
    return D


def glmm_profile_intervals(
    result: Any, names: Sequence[str], level: float, progress: Any
) -> dict[str, tuple[float, float]]:
    """Profile intervals of the named parameters (SDs/correlations, fixed effects)."""
    prof = _GLMMProfiler(result)
    vnames = variance_parameter_names(result)
    fnames = list(result.model.fixef_names)

    def setup(name: str) -> tuple[Callable[[float, _Path], float], float, float, float, float]:
        w = vnames.index(name) if name in vnames else prof.kv + fnames.index(name)
        return (
            functools.partial(prof.zeta, w),
            float(prof.x_hat[w]),
            float(prof.se[w]),
            float(prof.lower[w]),
            float(prof.upper[w]),
        )

    try:
        return profile_ends(names, level, progress, setup)
    finally:
        # Leave the modes of the optimum in the problem (predictions, ranef).
        result._problem.pirls(np.asarray(result.theta), np.asarray(result.fixef))
