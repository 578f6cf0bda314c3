"""Generalized linear models with a spatial Gaussian field, by the Laplace approximation
over the field (glmmTMB's ``y ~ x + mat(pos + 0 | group)`` with one group), the field's
prior a nearest-neighbour GP (sparse precision) or, with ``m = u - 1``, the exact GP.

``eta = X beta + Z w``, ``w ~ N(0, sigma^2 R~)`` at the ``u`` distinct locations,
``R~^{-1} = Q`` (:mod:`._latent`).  As glmmTMB (TMB's Laplace, nothing profiled):

``-log L = -sum l_i(eta^) + w^' Q w^ / (2 sigma^2) + (u log sigma^2 + sum log F_i) / 2
+ log det H / 2``, ``H = Z' W Z + Q / sigma^2``, ``W = -d^2 l / d eta^2``,

at the mode ``w^`` (Newton on the sparse ``H``, SuperLU, warm-started from the last
mode).  The outer parameters (``beta``, ``log sigma``, ``log range``, ``log nu``) are
optimised by L-BFGS-B on central differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, sparse, special
from scipy.sparse.linalg import splu

import mixedmodels as mm

from ._kernel import SpatialKernel, make_kernel
from ._latent import LatentPlan, latent_plan, neighbour_weights, precision

FloatArray = NDArray[np.float64]

__all__ = ["SpatialGLMMFit", "spatial_glmm"]

_FAMILIES = ("poisson", "binomial")


def _loglik(
    family: str, y: FloatArray, eta: FloatArray, trials: FloatArray
) -> tuple[float, FloatArray, FloatArray]:
    """``(sum l_i, dl/deta, -d^2 l/deta^2)``, constants included (R's dpois/dbinom)."""
    if family == "poisson":
        mu = np.exp(eta)
        ll = float(np.sum(y * eta - mu - special.gammaln(y + 1.0)))
        return ll, y - mu, mu
    # binomial, logit link: y successes out of trials
    p = special.expit(eta)
    log1pe = np.logaddexp(0.0, eta)
    const = special.gammaln(trials + 1) - special.gammaln(y + 1) - special.gammaln(trials - y + 1)
    ll = float(np.sum(y * eta - trials * log1pe + const))
    return ll, y - trials * p, trials * p * (1.0 - p)


class _Problem:
    """The Laplace objective of a spatial GLMM at outer parameters ``z``."""

    def __init__(
        self,
        family: str,
        kernel: SpatialKernel,
        lp: LatentPlan,
        y: FloatArray,
        X: FloatArray,
        trials: FloatArray,
    ) -> None:
        self.family = family
        self.kernel = kernel
        self.lp = lp
        self.y, self.X, self.trials = y, X, trials
        self.Z = lp.z()
        self.Zt = self.Z.T.tocsr()
        self.p = X.shape[1]
        self.w = np.zeros(lp.u)  # the last mode (warm start)
        self.n_inner = 0

    def split(self, z: FloatArray) -> tuple[FloatArray, float, FloatArray]:
        return z[: self.p], float(z[self.p]), z[self.p + 1 :]

    def _prior(self, params: FloatArray, log_sigma: float) -> tuple[sparse.csc_matrix, float]:
        B, F = neighbour_weights(self.kernel, params, self.lp.vp)
        Q = precision(self.lp.vp, B, F)
        s2 = float(np.exp(2.0 * log_sigma))
        return (Q * (1.0 / s2)).tocsc(), float(np.sum(np.log(F))) + self.lp.u * np.log(s2)

    def _factor(self, d2: FloatArray, P: sparse.csc_matrix) -> Any:
        H = (self.Zt @ sparse.diags(d2) @ self.Z + P).tocsc()
        return splu(
            H, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
        )

    def objective(self, z: FloatArray) -> float:
        """``-log L`` (Laplace), or ``inf`` where the inner problem fails."""
        try:
            return self._objective(z)
        except (np.linalg.LinAlgError, RuntimeError, FloatingPointError):
            return np.inf

    def _objective(self, z: FloatArray) -> float:
        beta, log_sigma, params = self.split(np.asarray(z, dtype=np.float64))
        P, logdet_prior = self._prior(params, log_sigma)
        fixed = self.X @ beta
        w = self.w.copy()

        def value(w: FloatArray) -> tuple[float, FloatArray, FloatArray]:
            ll, d1, d2 = _loglik(self.family, self.y, fixed + self.Z @ w, self.trials)
            return -ll + 0.5 * float(w @ (P @ w)), d1, d2

        f, d1, d2 = value(w)
        fresh = False  # whether lu factors H at the current w
        for _ in range(100):  # Newton iterations on the field (few)
            g = self.Zt @ d1 - P @ w
            lu = self._factor(d2, P)
            fresh = True
            self.n_inner += 1
            if float(np.max(np.abs(g))) < 1e-9 * max(1.0, float(np.max(np.abs(w)))):
                break
            step = lu.solve(g)
            t = 1.0
            for _ in range(30):  # step halving
                f_new, d1_new, d2_new = value(w + t * step)
                if f_new <= f + 1e-12 * abs(f):
                    break
                t *= 0.5
            else:
                break
            w, f, d1, d2 = w + t * step, f_new, d1_new, d2_new
            fresh = False
            if float(np.max(np.abs(t * step))) < 1e-11:
                break
        if not fresh:
            lu = self._factor(d2, P)
        logdet_h = float(np.sum(np.log(np.abs(lu.U.diagonal()))))
        self.w = w
        return float(f + 0.5 * logdet_prior + 0.5 * logdet_h)


class SpatialGLMMFit:
    """A spatial GLMM fitted by :func:`spatial_glmm`.

    Attributes
    ----------
    fixef : pandas.Series
        Fixed effects.
    sd : float
        The field's standard deviation (glmmTMB's ``sd``).
    loglik : float
        Laplace log-likelihood (nearest-neighbour prior unless ``m = u - 1``).
    field : pandas.Series
        The field's conditional mode at each distinct location (in the data's order of
        first appearance).
    """

    def __init__(self, problem: _Problem, z: FloatArray, opt: Any, names: list[str]) -> None:
        self._problem = problem
        self.z = np.asarray(z, dtype=np.float64)
        beta, log_sigma, params = problem.split(self.z)
        self.loglik = -problem.objective(self.z)
        self.fixef = pd.Series(beta, index=names, name="estimate")
        self.sd = float(np.exp(log_sigma))
        self.params = params
        self.kernel = problem.kernel
        self.m = problem.lp.m
        self.family = problem.family
        self.converged = bool(opt.success)
        self.optimizer_message = str(opt.message)
        self.n_evaluations = int(opt.nfev)
        self.nobs = problem.y.size
        self.df = self.z.size
        self.mode = problem.w.copy()

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.df

    def glmmtmb_theta(self) -> FloatArray:
        """glmmTMB's ``theta``: ``log(sd)``, ``log(range)`` (and ``log(smoothness)``)."""
        return np.concatenate([[np.log(self.sd)], self.params])

    def structure_parameters(self) -> pd.DataFrame:
        """``sd``, ``range`` (and ``smoothness``) as glmmTMB reports them."""
        rows = [("sd", self.sd), *self.kernel.natural_parameters(self.params)]
        return pd.DataFrame(rows, columns=["term", "estimate"])

    def summary(self) -> str:
        lines = [
            f"Spatial GLMM ({self.family}), {self.kernel.family.label} field, Laplace, "
            f"nearest-neighbour prior (m = {self.m})",
            f"  n = {self.nobs}, logLik = {self.loglik:.4f}, AIC = {self.aic:.4f}",
            "",
            "Fixed effects:",
            self.fixef.to_string(),
            "",
            "Field:",
            self.structure_parameters().to_string(index=False),
        ]
        if not self.converged:
            lines.append(f"\nWARNING: the optimiser did not converge: {self.optimizer_message}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def spatial_glmm(
    formula: str,
    data: Any,
    coords: Sequence[str],
    family: str = "poisson",
    structure: str = "exp",
    *,
    nu: float | None = None,
    m: int = 15,
    trials: str | None = None,
    ordering: str = "maxmin",
    start: Sequence[float] | None = None,
    seed: int = 0,
) -> SpatialGLMMFit:
    """Fit a Poisson (log link) or binomial (logit link) model with a spatial field.

    ``eta = X beta + w(s)``, ``w`` a Gaussian field with the correlation ``structure``
    (no nugget) and SD ``sd``; the Laplace approximation over the field as glmmTMB's
    ``y ~ x + exp(pos + 0 | group)`` (one group), the field's prior the nearest-
    neighbour GP with ``m`` neighbours (``m = u - 1``, ``u`` the distinct locations:
    the exact GP, glmmTMB's likelihood).

    Parameters
    ----------
    formula
        Fixed effects, ``"y ~ x"``.
    data
        Data frame with the formula's columns and the coordinates.
    coords
        Coordinate columns.
    family
        ``"poisson"`` or ``"binomial"`` (``y`` successes out of ``trials``, 1 by default).
    structure
        ``"exp"``, ``"gau"``, ``"mat"`` (smoothness estimated unless ``nu``), ``"matern32"``,
        ``"matern52"``, ``"spher"``, ``"ratio"``.
    nu
        Fixed Matérn smoothness.
    m
        Neighbours of each location (``1 <= m <= u - 1``).
    trials
        Column of binomial trials.
    ordering
        Ordering of the locations (``"maxmin"``, ``"coord"``, ``"sum"``, ``"none"``).
    start
        Start of ``(beta, log sd, log range[, log nu])``.
    seed
        Seed of the ordering's ties.

    Returns
    -------
    SpatialGLMMFit
    """
    from ._fit import _FAMILY, _coords_from

    if family not in _FAMILIES:
        raise ValueError(f"family must be one of {list(_FAMILIES)}, got {family!r}")
    if structure not in _FAMILY:
        raise ValueError(
            f"unknown spatial structure {structure!r}; choose one of {sorted(_FAMILY)}"
        )
    fam, fixed_nu = _FAMILY[structure]
    model = mm.Model(formula, data)
    if model.terms:
        raise ValueError("spatial_glmm takes fixed effects only; the field is the random effect")
    names = [coords] if isinstance(coords, str) else list(coords)
    rows = model.design.row_index
    xy = _coords_from(model.data, rows, names)
    kernel = make_kernel(fam, None, nu=nu if nu is not None else fixed_nu)
    kernel.check(xy, names)
    kernel = make_kernel(fam, xy, nu=kernel.nu)
    y = np.asarray(model.y, dtype=np.float64)
    if trials is None:
        t = np.ones_like(y)
    else:
        if trials not in model.data.columns:
            raise KeyError(f"trials column {trials!r} is not in the data")
        t = pd.to_numeric(model.data.loc[rows, trials], errors="coerce").to_numpy(np.float64)
    if family == "poisson" and (np.any(y < 0) or np.any(y != np.round(y))):
        raise ValueError("a Poisson response must be non-negative counts")
    if family == "binomial" and (np.any(y < 0) or np.any(y > t) or not np.all(np.isfinite(t))):
        raise ValueError("a binomial response must lie between 0 and the trials")
    lp = latent_plan(xy, int(m), ordering, kernel.metric, seed)
    problem = _Problem(family, kernel, lp, y, np.asarray(model.X, dtype=np.float64), t)
    X = problem.X
    if start is None:
        # A GLM without the field starts beta.
        def glm(beta: FloatArray) -> tuple[float, FloatArray]:
            ll, d1, _ = _loglik(family, y, X @ beta, t)
            return -ll, -(X.T @ d1)

        beta0 = optimize.minimize(glm, np.zeros(X.shape[1]), jac=True, method="BFGS").x
        z0 = np.concatenate([beta0, [np.log(0.5)], kernel.start()])
    else:
        z0 = np.asarray(start, dtype=np.float64)
        if z0.size != X.shape[1] + 1 + kernel.n_params:
            raise ValueError(
                f"start needs {X.shape[1] + 1 + kernel.n_params} values (beta, log sd, "
                f"{kernel.param_names()})"
            )
    lo, hi = kernel.bounds()
    bounds = [(None, None)] * (X.shape[1] + 1) + [
        (float(a) if np.isfinite(a) else None, float(b) if np.isfinite(b) else None)
        for a, b in zip(lo, hi, strict=True)
    ]
    opt = optimize.minimize(
        problem.objective,
        z0,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-6, "eps": 1e-6},
    )
    return SpatialGLMMFit(problem, opt.x, opt, list(model.fixef_names))
