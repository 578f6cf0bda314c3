"""Generalized linear models with a spatial Gaussian field, by the Laplace approximation
over the field (glmmTMB's ``y ~ x + mat(pos + 0 | group)`` with one group), the field's
prior a nearest-neighbour GP (sparse precision) or, with ``m = u - 1``, the exact GP.

``eta = X beta + Z w``, ``w ~ N(0, sigma^2 R~)`` at the ``u`` distinct locations,
``R~^{-1} = Q`` (:mod:`._latent`).  As glmmTMB (TMB's Laplace, nothing profiled):

``-log L = -sum l_i(eta^) + w^' Q w^ / (2 sigma^2) + (u log sigma^2 + sum log F_i) / 2
+ log det H / 2``, ``H = Z' W Z + Q / sigma^2``, ``W = -d^2 l / d eta^2``,

at the mode ``w^`` (Newton on the sparse ``H``, SuperLU, warm-started from the last
mode; CHOLMOD or SuperLU with the ordering kept, :mod:`._sparse_cholesky`).  The outer
parameters (``beta``, ``log sigma``, ``log range``, ``log nu``) are optimised by L-BFGS-B
on the analytic gradient (:meth:`_Problem.value_and_gradient`: the selected inverse of
``H`` and the derivatives of each location's ``m x m`` neighbour system).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, sparse, special

import mixedmodels as mm

from ._batched import packed_index
from ._kernel import SpatialKernel, make_kernel
from ._latent import (
    LatentPlan,
    latent_plan,
    neighbour_weight_derivatives,
    neighbour_weights,
    precision,
    precision_lower,
)
from ._selinv import SelectedInverter
from ._sparse_cholesky import SparseCholesky

FloatArray = NDArray[np.float64]

__all__ = ["SpatialGLMMFit", "spatial_glmm"]

_FAMILIES = ("poisson", "binomial")
# Outer parameters from which the analytic gradient is the default (decision 0021).
_ANALYTIC_FROM = 8


def _loglik(
    family: str, y: FloatArray, eta: FloatArray, trials: FloatArray
) -> tuple[float, FloatArray, FloatArray, FloatArray]:
    """``(sum l_i, dl/deta, W = -d^2 l/deta^2, dW/deta)``, constants included (R's
    dpois/dbinom)."""
    if family == "poisson":
        mu = np.exp(eta)
        ll = float(np.sum(y * eta - mu - special.gammaln(y + 1.0)))
        return ll, y - mu, mu, mu
    # binomial, logit link: y successes out of trials
    p = special.expit(eta)
    log1pe = np.logaddexp(0.0, eta)
    const = special.gammaln(trials + 1) - special.gammaln(y + 1) - special.gammaln(trials - y + 1)
    ll = float(np.sum(y * eta - trials * log1pe + const))
    w = trials * p * (1.0 - p)
    return ll, y - trials * p, w, w * (1.0 - 2.0 * p)


@dataclass
class _Mode:
    """The field's conditional mode and what the Laplace value and gradient need there."""

    w: FloatArray
    value: float
    d1: FloatArray
    d2: FloatArray
    d3: FloatArray


class _Problem:
    """The Laplace objective of a spatial GLMM at outer parameters ``z`` and its
    gradient (:meth:`value_and_gradient`)."""

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
        self.chol = SparseCholesky(lp.backend)
        self.selinv = SelectedInverter()
        self._clique: tuple[int, Any] | None = None

    def split(self, z: FloatArray) -> tuple[FloatArray, float, FloatArray]:
        return z[: self.p], float(z[self.p]), z[self.p + 1 :]

    def _hessian(self, d2: FloatArray, P: sparse.csc_matrix) -> sparse.csc_matrix:
        """``H = Z' W Z + Q / sigma^2`` (``Z' W Z`` diagonal: one location per row)."""
        return (sparse.diags(np.bincount(self.lp.loc, d2, self.lp.u)) + P).tocsc()

    def _factor_h(self, d2: FloatArray, prior: tuple[FloatArray, FloatArray, float]) -> None:
        """Factor ``H`` from its lower triangle summed into the kept pattern."""
        B, F, s2 = prior
        low = precision_lower(self.lp.vp, B, F, 1.0 / s2, np.bincount(self.lp.loc, d2, self.lp.u))
        self.chol.factor(low, lower=True)

    def _mode(
        self, beta: FloatArray, P: sparse.csc_matrix, prior: tuple[FloatArray, FloatArray, float]
    ) -> _Mode:
        """Newton with step halving from the last mode; on return ``self.chol`` holds
        the factor of ``H`` at the mode."""
        fixed = self.X @ beta
        w = self.w.copy()

        def value(w: FloatArray) -> tuple[float, FloatArray, FloatArray, FloatArray]:
            ll, d1, d2, d3 = _loglik(self.family, self.y, fixed + self.Z @ w, self.trials)
            return -ll + 0.5 * float(w @ (P @ w)), d1, d2, d3

        f, d1, d2, d3 = value(w)
        fresh = False  # whether self.chol factors H at the current w
        for _ in range(100):  # Newton iterations on the field (few)
            g = self.Zt @ d1 - P @ w
            self._factor_h(d2, prior)
            fresh = True
            self.n_inner += 1
            if float(np.max(np.abs(g))) < 1e-9 * max(1.0, float(np.max(np.abs(w)))):
                break
            step = self.chol.solve(g)
            t = 1.0
            for _ in range(30):  # step halving
                f_new, d1_new, d2_new, d3_new = value(w + t * step)
                if f_new <= f + 1e-12 * abs(f):
                    break
                t *= 0.5
            else:
                break
            w, f, d1, d2, d3 = w + t * step, f_new, d1_new, d2_new, d3_new
            fresh = False
            if float(np.max(np.abs(t * step))) < 1e-11:
                break
        if not fresh:
            self._factor_h(d2, prior)
        self.w = w
        return _Mode(w, f, d1, d2, d3)

    def objective(self, z: FloatArray) -> float:
        """``-log L`` (Laplace), or ``inf`` where the inner problem fails."""
        try:
            beta, log_sigma, params = self.split(np.asarray(z, dtype=np.float64))
            B, F = neighbour_weights(self.kernel, params, self.lp.vp)
            s2 = float(np.exp(2.0 * log_sigma))
            P = (precision(self.lp.vp, B, F) * (1.0 / s2)).tocsc()
            mode = self._mode(beta, P, (B, F, s2))
        except (np.linalg.LinAlgError, RuntimeError, FloatingPointError):
            return np.inf
        logdet_prior = float(np.sum(np.log(F))) + self.lp.u * np.log(s2)
        return float(mode.value + 0.5 * logdet_prior + 0.5 * self.chol.logdet)

    def value_and_gradient(self, z: FloatArray) -> tuple[float, FloatArray]:
        """``-log L`` and its gradient in ``z = (beta, log sd, kernel parameters)``.

        With ``H = Z'WZ + P``, ``P = Q / sigma^2``, at the mode ``w`` (where the
        penalised log-likelihood is stationary, so only explicit derivatives and
        ``log det H`` through ``w`` count): ``lev = diag(H^{-1})`` and ``H^{-1}`` on
        ``Q``'s cliques from the selected inverse; ``g_w = lev * Z'W' / 2`` the
        derivative of ``log det H / 2`` in ``w`` and ``s = H^{-1} g_w``; the mode moves
        by ``dw = -H^{-1} dP w`` (kernel parameters, ``sigma``) and
        ``dw = -H^{-1} Z'WX dbeta``.  ``dQ`` from ``dA`` and ``dF`` (each location's
        ``m x m`` system): ``Q = sum_i a_i a_i'``, ``a_i = (e_i - b_i) / sqrt(F_i)``.
        """
        z = np.asarray(z, dtype=np.float64)
        bad = (np.inf, np.zeros_like(z))
        try:
            beta, log_sigma, params = self.split(z)
            vp = self.lp.vp
            B, F, dB, dF = neighbour_weight_derivatives(self.kernel, params, vp)
            s2 = float(np.exp(2.0 * log_sigma))
            P = (precision(vp, B, F) * (1.0 / s2)).tocsc()
            mode = self._mode(beta, P, (B, F, s2))
            logdet_h = self.chol.logdet
            H = self._hessian(mode.d2, P)
            sel = self.selinv(H)
        except (np.linalg.LinAlgError, RuntimeError, FloatingPointError):
            return bad
        loc, u = self.lp.loc, self.lp.u
        value = float(
            mode.value + 0.5 * (float(np.sum(np.log(F))) + u * np.log(s2)) + 0.5 * logdet_h
        )
        w = mode.w
        lev = sel.diagonal()
        g_w = 0.5 * lev * np.bincount(loc, mode.d3, u)
        s = self.chol.solve(g_w)
        grad = np.empty_like(z)
        # beta: explicit (-X'd1, log det H through eta) and the mode's move.
        grad[: self.p] = self.X.T @ (-mode.d1 + 0.5 * lev[loc] * mode.d3 - mode.d2 * s[loc])
        # log sigma: dP = -2 P.
        Pw = P @ w
        grad[self.p] = (
            -float(w @ Pw) + float(lev @ np.bincount(loc, mode.d2, u)) + 2.0 * float(s @ Pw)
        )
        # Kernel parameters, location by location on its conditioning set.
        aug = vp.augmented()
        root = np.sqrt(F)
        a = np.concatenate([-B.T, np.ones((u, 1))], axis=1) / root[:, None]  # (u, k)
        wa, sa = w[aug], s[aug]
        aw, as_ = np.sum(a * wa, axis=1), np.sum(a * sa, axis=1)
        # H^{-1} on each location's clique (packed lower triangles, (T, u)); where the
        # entries lie is fixed while the ordering stays.
        rows_t, cols_t = packed_index(aug.shape[1])
        if self._clique is None or self._clique[0] != sel.version:
            pos = sel.positions(aug[:, rows_t].T, aug[:, cols_t].T)
            self._clique = (sel.version, pos.astype(np.int32 if pos.max() < 2**31 else np.int64))
        zc = sel.values()[self._clique[1]]
        half = np.where(rows_t == cols_t, 0.5, 1.0)[:, None]
        for j in range(dB.shape[0]):  # a loop over kernel parameters (few)
            da = np.concatenate([-dB[j].T, np.zeros((u, 1))], axis=1) / root[:, None]
            da -= a * (0.5 * dF[j] / F)[:, None]
            daw, das = np.sum(da * wa, axis=1), np.sum(da * sa, axis=1)
            # tr(H^{-1} dQ) = 2 sum_i a_i' Z_i da_i (Z_i symmetric: lower triangle).
            pair = a[:, rows_t].T * da[:, cols_t].T + a[:, cols_t].T * da[:, rows_t].T
            trace = 2.0 * float(np.sum(zc * pair * half))
            grad[self.p + 1 + j] = (
                float(aw @ daw) / s2
                + 0.5 * float(np.sum(dF[j] / F))
                + 0.5 * trace / s2
                - float(as_ @ daw + das @ aw) / s2
            )
        return value, grad


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
    gradient: bool | None = None,
    backend: str = "auto",
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
    gradient
        ``True``: the analytic gradient of the Laplace approximation (selected inverse
        of ``H``, implicit-function derivative of the mode); ``False``: forward
        differences; ``None`` (default): analytic from 8 outer parameters (``beta``,
        ``log sd``, kernel parameters) on: at 10^4 locations one analytic gradient costs
        about as much as six to seven evaluations of the objective, a difference
        gradient one per parameter.
    backend
        Sparse Cholesky of ``H`` in the Newton steps: ``"auto"`` (CHOLMOD through
        cvxopt when installed, else SuperLU), ``"cholmod"``, ``"superlu"``.

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
    lp = latent_plan(xy, int(m), ordering, kernel.metric, seed, backend=backend)
    problem = _Problem(family, kernel, lp, y, np.asarray(model.X, dtype=np.float64), t)
    X = problem.X
    if start is None:
        # A GLM without the field starts beta.
        def glm(beta: FloatArray) -> tuple[float, FloatArray]:
            ll, d1, _, _ = _loglik(family, y, X @ beta, t)
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
    if gradient is None:
        gradient = z0.size >= _ANALYTIC_FROM
    if gradient:
        opt = optimize.minimize(
            problem.value_and_gradient,
            z0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-6},
        )
    else:
        opt = optimize.minimize(
            problem.objective,
            z0,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-6, "eps": 1e-6},
        )
    return SpatialGLMMFit(problem, opt.x, opt, list(model.fixef_names))
