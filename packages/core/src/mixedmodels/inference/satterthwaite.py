"""Satterthwaite's denominator df for linear mixed models, as lmerTest.

Kuznetsova, Brockhoff & Christensen (2017): the variance parameters are
``varpar = (theta, sigma)``; ``A = 2 H^-1`` with ``H`` the Hessian of the deviance
(REML criterion for REML fits) in ``varpar`` with the fixed effects profiled out, and
``J_i = d vcov(beta) / d varpar_i``.  For a contrast ``l``,
``df = 2 (l'Cl)^2 / (g'Ag)`` with ``g_i = l'J_i l``.  The derivatives in theta are
numerical (central differences with Richardson extrapolation, numDeriv's defaults);
those in sigma are analytic.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..interfaces import FloatArray
from ..numerics.derivatives import richardson_derivatives

# lmerTest's tolerance for eigenvalues of the Hessian of the deviance.
_EIG_TOL = 1e-8


@dataclass
class _Satterthwaite:
    vcov_beta: FloatArray  # (p, p)
    vcov_varpar: FloatArray  # (k + 1, k + 1): 2 H^+
    jacobian: FloatArray  # (k + 1, p, p): d vcov(beta) / d varpar
    hessian: FloatArray  # (k + 1, k + 1)


def _satterthwaite_parts(result: Any) -> _Satterthwaite:
    cached = _SATT_CACHE.get(result)
    if cached is not None:
        return cached
    problem = result._problem
    reml = bool(result.reml)
    n, p = problem.n, problem.p
    nu = n - p if reml else n
    theta = np.asarray(result.theta, dtype=np.float64)
    k = theta.size

    model = result.model
    X = np.asarray(model.X, dtype=np.float64)
    y = np.asarray(model.response, dtype=np.float64)
    if model.offset is not None:
        y = y - model.offset
    w = None if model.weights is None else np.asarray(model.weights, dtype=np.float64)
    model_terms: Any = model.terms
    # A fit on standardised matrices (decision 0014): differentiate the standardised
    # criterion in its theta~, where steps are well scaled (the df are those of the
    # user's theta: see _user_theta_curvature), and map the fixed-effect quantities back
    # with beta = T beta~.
    transform = getattr(problem, "transform", None)
    if transform is not None:
        problem = problem.inner
        theta = transform.theta_to_standard(theta)[0]
        X = np.asarray(transform.X, dtype=np.float64)
        model_terms = transform.terms
    terms = [(np.asarray(t.Z, dtype=np.float64), np.asarray(t.codes)) for t in model_terms]

    structured = getattr(problem, "residual", None) is not None
    # A fit on summed cross-products (a data-source plugin, decision 0022) has no rows
    # in memory: the penalised RSS then comes from the factor.
    in_memory = X.shape[0] == n

    def parts(th: FloatArray) -> FloatArray:
        ev = problem.evaluate(th, reml)
        if ev is None:
            return np.full(2 + p * p, np.nan)
        vu = problem.vcov_unscaled(ev)
        if structured:
            # Residual correlation / variance functions: everything in the criterion
            # but the profiled residual scale (log |R(phi)| included).
            a = ev.objective - nu * (1.0 + np.log(2.0 * np.pi * ev.pwrss / nu))
            return np.concatenate([[a, ev.pwrss], vu.ravel()])
        a = ev.logdet_L + (ev.logdet_RX if reml else 0.0)
        if not in_memory:
            return np.concatenate([[a, ev.pwrss], vu.ravel()])
        # The penalised RSS from explicit residuals: the factor's last element is the
        # difference of large cross-products, whose rounding noise numerical second
        # derivatives would amplify.
        beta, us, _ = problem.solve(ev)
        r = y - X @ beta
        pen = 0.0
        for (Z, codes), u, lam in zip(terms, us, ev.lambdas, strict=True):
            b = u @ lam.T
            r = r - np.einsum("ij,ij->i", Z, b[codes])
            pen += float(np.sum(u * u))
        wrss = float(r @ r) if w is None else float(np.sum(w * r * r))
        return np.concatenate([[a, wrss + pen], vu.ravel()])

    f0, jac, hess = _richardson_derivatives_cached(parts, theta)
    assert hess is not None
    if transform is not None:
        hess = hess + _user_theta_curvature(transform, theta, jac)
    sigma = float(result.sigma)
    s2 = sigma * sigma
    pw = f0[1]
    d_pw = jac[1]
    H = np.empty((k + 1, k + 1))
    H[:k, :k] = hess[0] + hess[1] / s2
    H[:k, k] = H[k, :k] = -2.0 * d_pw / sigma**3
    H[k, k] = 6.0 * pw / sigma**4 - 2.0 * nu / s2
    vu = f0[2:].reshape(p, p)
    J = np.empty((k + 1, p, p))
    J[:k] = s2 * jac[2:].T.reshape(k, p, p)
    J[k] = 2.0 * sigma * vu
    if transform is not None:
        vu = transform.vcov_from_standard(vu)
        J = np.einsum("ab,kbc,dc->kad", transform.T, J, transform.T)
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(J))):
        warnings.warn(
            "Satterthwaite df unavailable: the deviance could not be differentiated at the "
            "estimates (df are NaN)",
            UserWarning,
            stacklevel=3,
        )
        bad = np.full((k + 1, k + 1), np.nan)
        out = _Satterthwaite(s2 * vu, bad, J, H)
        _SATT_CACHE[result] = out
        return out
    evals, evecs = np.linalg.eigh(H)
    neg = evals < -_EIG_TOL
    if neg.any():
        warnings.warn(
            f"Model failed to converge with {int(neg.sum())} negative eigenvalue(s) of the "
            "Hessian of the deviance in (theta, sigma): "
            + " ".join(f"{v:.1e}" for v in evals[neg]),
            UserWarning,
            stacklevel=3,
        )
    pos = evals > _EIG_TOL
    hinv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    out = _Satterthwaite(s2 * vu, 2.0 * hinv, J, H)
    _SATT_CACHE[result] = out
    return out


def _user_theta_curvature(transform: Any, theta_std: FloatArray, jac: FloatArray) -> FloatArray:
    """The term that makes second derivatives in the standardised theta~ those of the
    user's theta, expressed in theta~: with ``theta = phi(theta~)``,
    ``J' d2f/dtheta2 J = d2f/dtheta~2 - sum_m (df/dtheta_m) d2 phi_m / dtheta~2``.

    lmerTest differentiates in lme4's theta; at the optimum (zero gradient) the term
    vanishes and both agree, elsewhere (a fit evaluated at another program's theta) it
    keeps lmerTest's numbers.  ``d2 phi`` by central differences of the (exact, small)
    map in the well-scaled theta~; ``df/dtheta = df/dtheta~ J`` with ``J = d theta~/d theta``."""
    k = theta_std.size
    user = transform.theta_from_standard(theta_std)
    J = transform.theta_jacobian(user)  # d theta~ / d theta
    grad_user = jac @ J  # (m, k): df/dtheta
    h = 1e-4 * np.maximum(np.abs(theta_std), 1e-2)
    phi2 = np.empty((k, k, k))  # phi2[m, a, b] = d2 theta_m / d theta~_a d theta~_b
    for a in range(k):  # loops over parameters (few)
        for b in range(a, k):
            ea, eb = np.zeros(k), np.zeros(k)
            ea[a], eb[b] = h[a], h[b]
            f = transform.theta_from_standard
            val = (
                f(theta_std + ea + eb)
                - f(theta_std + ea - eb)
                - f(theta_std - ea + eb)
                + f(theta_std - ea - eb)
            ) / (4.0 * h[a] * h[b])
            phi2[:, a, b] = phi2[:, b, a] = val
    return np.asarray(-np.einsum("om,mab->oab", grad_user, phi2), dtype=np.float64)


def _richardson_derivatives_cached(
    func: Callable[[FloatArray], FloatArray], x: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    # Two Richardson steps (lmerTest's numDeriv uses four): the df move by <= 1e-6
    # relative on the reference cases and the InstEval summary takes 1.1 s, not 2.2 s.
    return richardson_derivatives(func, x, r=2)


def _satterthwaite_1d(parts: _Satterthwaite, L: FloatArray) -> tuple[float, float]:
    """Variance of ``L beta`` and its Satterthwaite df."""
    var = float(L @ parts.vcov_beta @ L)
    grad = np.einsum("i,kij,j->k", L, parts.jacobian, L)
    denom = float(grad @ parts.vcov_varpar @ grad)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = 2.0 * var**2 / denom if denom > 0 else np.inf
    return var, float(df)


def _fstat_ddf(nu: FloatArray, tol: float = 1e-8) -> float:
    """lmerTest's ``get_Fstat_ddf``: df of an F statistic from the t statistics' df."""
    nu = np.asarray(nu, dtype=np.float64)
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    e = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * e / (e - nu.size)


# Per-result cache (results are not modified, and pickle without it).
_SATT_CACHE: weakref.WeakKeyDictionary[Any, _Satterthwaite] = weakref.WeakKeyDictionary()
