"""Posterior modes as blme's ``blmer`` computes them (``method="map"``).

blme minimises lme4's profiled REML (or ML) criterion plus a prior penalty.  Its
default covariance prior is ``wishart(df = level.dim + 2.5, scale = Inf,
posterior.scale = "cov", common.scale = TRUE)`` on each term: with an infinite scale
the trace term vanishes and, on the common scale, only blme's "polynomial term" is
left, ``-2 (df - q - 1) sum(log(diag(Lambda_k)))`` per term of dimension ``q`` (blme's
``getPolynomialTerm`` for ``bmerWishartDist``); the residual variance is profiled as in
lme4 (blme's degrees-of-freedom adjustment is zero on the common scale).  The
criterion is the core's (``LMMResult.deviance_function``), so only the penalty is new.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import optimize

from mixedmodels.interfaces import Estimator

from ._data import unsupported_reason

__all__ = ["MAPEstimator", "MAPResult", "blmer", "wishart_penalty"]


def _diag_positions(dims: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Positions of each term's diagonal in lme4's theta (column-major lower triangle),
    and the term of each theta entry."""
    diag, term, start = [], [], 0
    for k, d in enumerate(dims):
        pos = start
        for j in range(d):
            diag.append(pos)
            pos += d - j
        term += [k] * (d * (d + 1) // 2)
        start += d * (d + 1) // 2
    return np.array(diag, dtype=int), np.array(term, dtype=int)


def wishart_penalty(theta: Any, dims: list[int], extra_df: float = 2.5) -> float:
    """blme's penalty of its default Wishart prior: ``-2 (df - q - 1) sum log diag``
    with ``df = q + extra_df``; ``inf`` where a diagonal element is not positive."""
    theta = np.asarray(theta, dtype=float)
    diag, _ = _diag_positions(dims)
    lam = theta[diag]
    if np.any(lam <= 0):
        return float("inf")
    coef = np.repeat([-2.0 * (d + extra_df - d - 1) for d in dims], dims)
    return float(np.sum(coef * np.log(lam)))


class MAPResult:
    """A blme-style posterior mode.

    Attributes
    ----------
    theta : ndarray
        lme4's theta at the mode.
    criterion : float
        Penalised criterion (blme's objective) at the mode.
    penalty : float
        The prior penalty there (blme's ``devcomp$cmp["penalty"]``).
    unpenalized : float
        The REML criterion (or ML deviance) at the mode, as lme4's accessors report
        it for a blmerMod.
    fixef : pandas.Series
        Fixed effects at the mode (generalised least squares given theta).
    vcov : pandas.DataFrame
        Their covariance given theta.
    sigma : float
        Residual SD, profiled as lme4 does (``sqrt(pwrss / (n - p))`` for REML).
    ranef : dict
        Conditional modes per term, ``(levels, dim)`` DataFrames.
    converged : bool
    """

    theta: np.ndarray
    criterion: float
    penalty: float
    unpenalized: float
    fixef: pd.Series
    vcov: pd.DataFrame
    sigma: float
    ranef: dict[str, pd.DataFrame]
    factors: dict[str, np.ndarray]
    columns: dict[str, list[str]]
    nobs: int
    pwrss: float
    converged: bool

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    @property
    def loglik(self) -> float:
        """``-criterion / 2``: the penalised log-likelihood."""
        return -0.5 * float(self.criterion)

    @property
    def df(self) -> int:
        return int(len(self.fixef) + len(self.theta) + 1)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.df

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.df

    def varcorr(self) -> pd.DataFrame:
        """SDs and correlations per term, and the residual SD."""
        rows = []
        for key, L in self.factors.items():
            cov = self.sigma**2 * L @ L.T
            sd = np.sqrt(np.diag(cov))
            for i, c in enumerate(self.columns[key]):
                rows.append((key, c, "", sd[i]))
            for j in range(len(sd)):
                for i in range(j + 1, len(sd)):
                    r = cov[i, j] / (sd[i] * sd[j])
                    rows.append((key, self.columns[key][j], self.columns[key][i], r))
        rows.append(("Residual", "", "", self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "value"])

    def __repr__(self) -> str:
        return f"<MAPResult criterion={self.criterion:.6f} theta={np.round(self.theta, 5)}>"


def _at_theta(model: Any, theta: np.ndarray, reml: bool) -> dict[str, Any]:
    """GLS fixed effects, profiled sigma and conditional modes at a fixed theta (the
    penalised least-squares system of lme4, dense in the random effects)."""
    from ._collapsed import _z_matrix
    from ._data import bayes_data

    bd = bayes_data(model)
    Z, offsets = _z_matrix(bd)
    X = np.asarray(model.X, dtype=float)
    w = np.ones(bd.n) if bd.weights is None else bd.weights
    y = bd.y - bd.offset
    sw = np.sqrt(w)
    factors, blocks, pos = {}, [], 0
    for t in bd.terms:
        d = t.dim
        L = np.zeros((d, d))
        idx = [(i, j) for j in range(d) for i in range(j, d)]  # column-major lower triangle
        for k, (i, j) in enumerate(idx):
            L[i, j] = theta[pos + k]
        pos += len(idx)
        factors[t.key] = L
        blocks.append(np.kron(np.eye(t.n_levels), L))
    from scipy.linalg import block_diag, cho_factor, cho_solve

    Lam = block_diag(*blocks)
    ZL = sp.csr_matrix(Z.multiply(sw[:, None])) @ Lam
    Xw, yw = X * sw[:, None], y * sw
    q, p = ZL.shape[1], X.shape[1]
    A = np.block([[ZL.T @ ZL + np.eye(q), ZL.T @ Xw], [Xw.T @ ZL, Xw.T @ Xw]])
    rhs = np.concatenate([ZL.T @ yw, Xw.T @ yw])
    sol = cho_solve(cho_factor(A, lower=True), rhs)
    u, beta = sol[:q], sol[q:]
    resid = yw - ZL @ u - Xw @ beta
    pwrss = float(resid @ resid + u @ u)
    n = bd.n
    sigma2 = pwrss / (n - p if reml else n)
    Ainv = np.linalg.inv(A)
    vcov = sigma2 * Ainv[q:, q:]
    names = list(model.fixef_names)
    b = Lam @ u
    ranef = {}
    for t, off in zip(bd.terms, offsets, strict=True):
        block = b[off : off + t.n_levels * t.dim].reshape(t.n_levels, t.dim)
        ranef[t.key] = pd.DataFrame(block, index=t.levels, columns=t.columns)
    return {
        "fixef": pd.Series(beta, index=names),
        "vcov": pd.DataFrame(vcov, index=names, columns=names),
        "sigma": float(np.sqrt(sigma2)),
        "ranef": ranef,
        "factors": factors,
        "columns": {t.key: t.columns for t in bd.terms},
        "nobs": n,
        "pwrss": pwrss,
    }


def fit_map(
    model: Any, reml: bool = True, cov_prior_df: float = 2.5, tol: float = 1e-12
) -> MAPResult:
    """blme's posterior mode of a linear mixed model (default Wishart covariance prior).

    Parameters
    ----------
    model
        A Gaussian, identity-link :class:`mixedmodels.Model`.
    reml
        Penalise the REML criterion (blme's default) or the ML deviance.
    cov_prior_df
        ``df - level.dim`` of the Wishart prior (blme's default 2.5).
    tol
        Optimiser tolerance on the criterion.
    """
    if not model.is_linear:
        raise ValueError("method='map' (blme's blmer) needs a Gaussian model with identity link")
    if any(s.name != "us" for s in model.structures):
        raise ValueError("method='map' supports unstructured terms (x | g) only")
    if not cov_prior_df > -1:
        raise ValueError(f"cov_prior_df must exceed -1, got {cov_prior_df}")
    base = model.fit(method="reml" if reml else "ml")
    dev = base.deviance_function()
    dims = [t.dim for t in model.terms]
    diag, _ = _diag_positions(dims)

    def objective(theta: np.ndarray) -> float:
        pen = wishart_penalty(theta, dims, cov_prior_df)
        return float(dev(theta)) + pen if np.isfinite(pen) else 1e300

    start = np.asarray(base.theta, dtype=float).copy()
    start[diag] = np.maximum(start[diag], 0.1)  # the penalty keeps the mode off zero
    lower = np.full(start.size, -np.inf)
    lower[diag] = 1e-8
    bounds = list(zip(lower, np.full(start.size, np.inf), strict=True))
    res = optimize.minimize(
        objective,
        start,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": tol, "gtol": 1e-9, "maxiter": 5000},
    )
    res2 = optimize.minimize(
        objective,
        res.x,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": tol, "maxiter": 20000},
    )
    best = res2 if res2.fun <= res.fun else res
    theta = np.asarray(best.x, dtype=float)
    crit = objective(theta)
    return MAPResult(
        theta=theta,
        criterion=crit,
        penalty=wishart_penalty(theta, dims, cov_prior_df),
        unpenalized=float(dev(theta)),
        converged=bool(best.success or res.success),
        objective=objective,
        **_at_theta(model, theta, reml),
    )


def blmer(formula: str, data: Any, reml: bool = True, **options: Any) -> MAPResult:
    """blme's ``blmer`` with its default priors (see :func:`fit_map`)."""
    import mixedmodels as mm

    return fit_map(mm.Model(formula, data), reml=reml, **options)


class MAPEstimator(Estimator):
    """``Model.fit(method="map")``: blme's posterior mode."""

    name: ClassVar[str] = "map"

    def supports(self, model: Any) -> str | None:
        try:
            reason = unsupported_reason(model)
            if reason is None and not model.is_linear:
                return "method='map' (blme's blmer) needs a Gaussian model with identity link"
            return reason
        except Exception as err:
            return f"not a mixedmodels.Model ({type(err).__name__}: {err})"

    def fit(self, model: Any, **options: Any) -> MAPResult:
        return fit_map(model, **options)
