"""Denominator degrees of freedom for linear mixed models: Satterthwaite and Kenward-Roger.

Satterthwaite follows lmerTest (Kuznetsova, Brockhoff & Christensen 2017): the
variance parameters are ``varpar = (theta, sigma)``; ``A = 2 H^-1`` with ``H`` the
Hessian of the deviance (REML criterion for REML fits) in ``varpar`` with the fixed
effects profiled out, and ``J_i = d vcov(beta) / d varpar_i``.  For a contrast ``l``,
``df = 2 (l'Cl)^2 / (g'Ag)`` with ``g_i = l'J_i l``.  The derivatives in theta are
numerical (central differences with Richardson extrapolation, numDeriv's defaults);
those in sigma are analytic.

Kenward-Roger follows pbkrtest (Halekoh & Højsgaard 2014): the covariance of the
observations is linear in the variance-covariance parameters of the random effects
and the residual variance, ``V = sum_r gamma_r G_r``, and the adjusted covariance of
beta-hat and the df come from traces of products of ``V^-1 G_r``.  All n x n products
are formed in the space of the random effects by the Woodbury identity
(``(I + U U')^-k = I - U (M^-1 + ... + M^-k) U'`` with ``M = U'U + I``), so the cost is
that of dense algebra of the size of the random effects, not of the observations.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats

from ..interfaces import FloatArray
from ..linear.interface import is_linear_criterion
from ..numerics.derivatives import richardson_derivatives

__all__ = [
    "DDF_METHODS",
    "coef_table",
    "contest",
    "normalize_ddf",
    "richardson_derivatives",
    "vcov_kenward_roger",
]

DDF_METHODS = ("satterthwaite", "kenward-roger", "none")
_ALIASES = {
    "satterthwaite": "satterthwaite",
    "kenward-roger": "kenward-roger",
    "kenward_roger": "kenward-roger",
    "kenwardroger": "kenward-roger",
    "kr": "kenward-roger",
    "none": "none",
    "lme4": "none",
    "residual": "none",
}
# lmerTest's tolerance for eigenvalues of the Hessian of the deviance.
_EIG_TOL = 1e-8
# Largest number of random effects for which the Kenward-Roger matrices are formed.
_KR_MAX_Q = 12_000

# Per-result caches (results are not modified, and pickle without them).
_SATT_CACHE: weakref.WeakKeyDictionary[Any, _Satterthwaite] = weakref.WeakKeyDictionary()
_KR_CACHE: weakref.WeakKeyDictionary[Any, _KenwardRoger] = weakref.WeakKeyDictionary()


def normalize_ddf(ddf: str | None) -> str:
    """The canonical name of a denominator-df method (``None`` means ``"none"``)."""
    if ddf is None:
        return "none"
    key = str(ddf).strip().lower().replace(" ", "-")
    if key not in _ALIASES:
        raise ValueError(
            f"unknown ddf method {ddf!r}; use 'satterthwaite', 'kenward-roger' or 'none'"
        )
    return _ALIASES[key]


def _require_lmm(result: Any, what: str) -> None:
    if not is_linear_criterion(getattr(result, "_problem", None)):
        raise TypeError(
            f"{what} needs a linear mixed model fit (LMMResult), got {type(result).__name__}; "
            "for generalized linear mixed models use ddf='none' (Wald z / chi-square tests)"
        )


# --- Satterthwaite -----------------------------------------------------------------------
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
    terms = [(np.asarray(t.Z, dtype=np.float64), np.asarray(t.codes)) for t in model.terms]

    structured = getattr(problem, "residual", None) is not None

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


# --- Kenward-Roger -----------------------------------------------------------------------
@dataclass
class _KenwardRoger:
    phi: FloatArray  # unadjusted vcov(beta)
    phi_adj: FloatArray  # adjusted vcov(beta)
    P: FloatArray  # (g, p, p)
    W: FloatArray  # (g, g)


def _sparse_Z(model: Any, sw: FloatArray) -> sp.csc_matrix:
    n = model.X.shape[0]
    blocks = []
    for t in model.terms:
        d = t.dim
        rows = np.repeat(np.arange(n), d)
        cols = (np.asarray(t.codes)[:, None] * d + np.arange(d)[None, :]).ravel()
        vals = (np.asarray(t.Z, dtype=np.float64) * sw[:, None]).ravel()
        blocks.append(sp.csr_matrix((vals, (rows, cols)), shape=(n, t.n_levels * d)))
    return sp.hstack(blocks, format="csc")


def _covariance_basis(structure: Any, theta_k: FloatArray) -> list[FloatArray]:
    """Symmetric ``dim x dim`` matrices spanning the covariance parameters of one term.

    ``us``: one per lower-triangle element (pbkrtest's parameters); ``diag``: one per
    variance; other structures: an orthonormal basis of the span of the derivatives of
    ``lambda lambda'`` in their parameters (the tangent space, exact for structures
    linear in their covariance parameters).
    """
    d = int(structure.dim)
    name = getattr(structure, "name", "")

    def unit(a: int, b: int) -> FloatArray:
        e = np.zeros((d, d))
        e[a, b] = e[b, a] = 1.0
        return e

    if name == "us":
        cols, rows = np.triu_indices(d)
        return [unit(int(a), int(b)) for a, b in zip(rows.tolist(), cols.tolist(), strict=True)]
    if name == "diag":
        return [unit(a, a) for a in range(d)]
    lam = np.asarray(structure.factor(theta_k), dtype=np.float64)
    D = np.asarray(structure.factor_jacobian(theta_k), dtype=np.float64)
    derivs = np.einsum("iab,cb->iac", D, lam)
    derivs = derivs + np.transpose(derivs, (0, 2, 1))
    flat = derivs.reshape(len(derivs), -1).T
    u, s, _ = np.linalg.svd(flat, full_matrices=False)
    rank = int(np.sum(s > 1e-10 * max(s.max(initial=0.0), 1e-300)))
    basis = [u[:, i].reshape(d, d) for i in range(rank)]
    return [(b + b.T) / 2.0 for b in basis]


def _kenward_roger_parts(result: Any) -> _KenwardRoger:
    cached = _KR_CACHE.get(result)
    if cached is not None:
        return cached
    if not result.reml:
        raise ValueError(
            "Kenward-Roger's method is only available for REML fits (as pbkrtest); "
            "refit with reml=True or use ddf='satterthwaite'"
        )
    if getattr(result._problem, "residual", None) is not None:
        raise NotImplementedError(
            "Kenward-Roger with residual correlation or variance structures is not "
            "implemented; use ddf='satterthwaite'"
        )
    model = result.model
    X = np.asarray(model.X, dtype=np.float64)
    n, p = X.shape
    sw = np.ones(n) if model.weights is None else np.sqrt(np.asarray(model.weights, float))
    Z = _sparse_Z(model, sw)
    q = Z.shape[1]
    if q > _KR_MAX_Q:
        raise ValueError(
            f"Kenward-Roger needs dense matrices of the size of the random effects ({q} > "
            f"{_KR_MAX_Q}); use ddf='satterthwaite'"
        )
    Xw = X * sw[:, None]
    CZZ = (Z.T @ Z).toarray()
    CZX = np.asarray(Z.T @ Xw)
    CXX = Xw.T @ Xw
    sigma2 = float(result.sigma) ** 2
    # Relative covariance factor, block diagonal over terms and levels.
    lam_blocks = []
    thetas = _split_theta(model, result.theta)
    lambdas = [
        np.asarray(s.factor(th), float) for s, th in zip(model.structures, thetas, strict=True)
    ]
    for t, lam in zip(model.terms, lambdas, strict=True):
        lam_blocks.append(sp.kron(sp.identity(t.n_levels), sp.csr_matrix(lam)))
    Lam = sp.block_diag(lam_blocks, format="csr")
    ZU = np.asarray((Lam.T @ CZZ.T).T)  # Z'Z Lambda (q x q)
    XU = np.asarray((Lam.T @ CZX).T)  # X'Z Lambda (p x q)
    N = np.asarray(Lam.T @ ZU)  # Lambda'Z'Z Lambda
    M = N + np.eye(q)
    cho = sla.cho_factor(M, lower=True)
    Minv = sla.cho_solve(cho, np.eye(q))
    M2 = Minv @ Minv
    F1 = Minv
    F2 = Minv + M2
    F3 = F2 + M2 @ Minv

    def form(power: int, AB: FloatArray, AU: FloatArray, BU: FloatArray, F: FloatArray) -> Any:
        return (AB - AU @ F @ BU.T) / sigma2**power

    K = form(1, CZZ, ZU, ZU, F1)  # Z'V^-1 Z
    R = form(1, CZX, ZU, XU, F1)  # Z'V^-1 X
    T = form(1, CXX, XU, XU, F1)  # X'V^-1 X
    K2 = form(2, CZZ, ZU, ZU, F2)
    R2 = form(2, CZX, ZU, XU, F2)
    T2 = form(2, CXX, XU, XU, F2)
    T3 = form(3, CXX, XU, XU, F3)
    tr_S2 = (n - float(np.sum(F2 * N))) / sigma2**2  # tr(V^-2), F2 and N symmetric
    phi = np.linalg.inv(T)
    phi = (phi + phi.T) / 2.0

    # Parameters: covariance elements of each term, then the residual variance.
    E: list[sp.csr_matrix] = []
    off = 0
    for t, s, th in zip(model.terms, model.structures, thetas, strict=True):
        d, nl = t.dim, t.n_levels
        base = off + np.arange(nl) * d
        for B in _covariance_basis(s, th):
            a, b = np.nonzero(B)
            rows = (base[:, None] + a[None, :]).ravel()
            cols = (base[:, None] + b[None, :]).ravel()
            vals = np.tile(B[a, b], nl)
            E.append(sp.csr_matrix((vals, (rows, cols)), shape=(q, q)))
        off += nl * d
    g = len(E) + 1
    ER = [np.asarray(e @ R) for e in E]  # E_r Z'V^-1 X   (q x p)
    EK = [np.asarray(e @ K) for e in E]  # E_r Z'V^-1 Z   (q x q)
    P = np.empty((g, p, p))
    Q = np.empty((g, g, p, p))
    Ktr = np.empty((g, g))
    for i in range(g - 1):
        P[i] = -R.T @ ER[i]
        for j in range(i, g - 1):
            Q[i, j] = ER[i].T @ (K @ ER[j])
            Ktr[i, j] = float(np.sum(EK[i] * EK[j].T))
        Q[i, g - 1] = ER[i].T @ R2
        Ktr[i, g - 1] = float(np.sum(E[i].multiply(K2).sum()))
    P[g - 1] = -T2
    Q[g - 1, g - 1] = T3
    Ktr[g - 1, g - 1] = tr_S2
    for r1 in range(g):
        for r2 in range(r1 + 1, g):
            Q[r2, r1] = Q[r1, r2].T
            Ktr[r2, r1] = Ktr[r1, r2]
    # pbkrtest's information matrix IE2 and W = 2 IE2^-1.
    PhiP = np.einsum("ab,rbc->rac", phi, P)  # Phi P_r
    IE2 = Ktr - 2.0 * np.einsum("ab,rsba->rs", phi, Q) + np.einsum("rab,sba->rs", PhiP, PhiP)
    eig = np.linalg.eigvalsh((IE2 + IE2.T) / 2.0)
    invert = np.linalg.inv if np.min(np.abs(eig)) > 1e-10 else np.linalg.pinv
    W = 2.0 * invert(IE2)
    W = (W + W.T) / 2.0
    PPhiP = np.einsum("rab,sbc->rsac", P, PhiP)  # P_r Phi P_s
    U = np.einsum("rs,rsab->ab", W, Q - PPhiP)
    U = (U + U.T) / 2.0
    phi_adj = phi + 2.0 * phi @ U @ phi
    out = _KenwardRoger(phi, (phi_adj + phi_adj.T) / 2.0, P, W)
    _KR_CACHE[result] = out
    return out


def _split_theta(model: Any, theta: FloatArray) -> list[FloatArray]:
    sizes = [int(s.n_params) for s in model.structures]
    idx = np.cumsum([0, *sizes])
    theta = np.asarray(theta, dtype=np.float64)
    return [theta[idx[i] : idx[i + 1]] for i in range(len(sizes))]


def _div_zero(x: float, y: float, tol: float = 1e-14) -> float:
    if abs(x) < tol and abs(y) < tol:
        return 1.0
    return x / y


def _kr_adjust(kr: _KenwardRoger, L: FloatArray) -> tuple[float, float, float]:
    """pbkrtest's ``.KR_adjust``: (q, ddf, F scaling) for the hypothesis ``L beta = 0``."""
    L = np.atleast_2d(L)
    phi = kr.phi
    Theta = L.T @ np.linalg.solve(L @ phi @ L.T, L)
    ThetaPhi = Theta @ phi
    ui = np.einsum("ab,rbc,cd->rad", ThetaPhi, kr.P, phi)
    tr = np.einsum("raa->r", ui)
    A1 = float(np.einsum("rs,r,s->", kr.W, tr, tr))
    A2 = float(np.einsum("rs,rab,sba->", kr.W, ui, ui))
    q = float(np.linalg.matrix_rank(L))
    B = (A1 + 6.0 * A2) / (2.0 * q)
    g = ((q + 1.0) * A1 - (q + 4.0) * A2) / ((q + 2.0) * A2)
    c1 = g / (3.0 * q + 2.0 * (1.0 - g))
    c2 = (q - g) / (3.0 * q + 2.0 * (1.0 - g))
    c3 = (q + 2.0 - g) / (3.0 * q + 2.0 * (1.0 - g))
    V0 = 1.0 + c1 * B
    V1 = 1.0 - c2 * B
    V2 = 1.0 - c3 * B
    if abs(V0) < 1e-10:
        V0 = 0.0
    rho = (_div_zero(1.0 - A2 / q, V1) ** 2) * V0 / V2 / q
    df2 = 4.0 + (q + 2.0) / (q * rho - 1.0)
    scaling = 1.0 if abs(df2 - 2.0) < 1e-2 else df2 * (1.0 - A2 / q) / (df2 - 2.0)
    return q, float(df2), float(scaling)


# --- public API -------------------------------------------------------------------------
def vcov_kenward_roger(result: Any) -> pd.DataFrame:
    """Kenward-Roger adjusted covariance of the fixed effects (pbkrtest's ``vcovAdj``).

    Parameters
    ----------
    result
        A REML fit of a linear mixed model.

    Returns
    -------
    pandas.DataFrame
        ``p x p``, named by the fixed effects.
    """
    _require_lmm(result, "vcov_kenward_roger")
    kr = _kenward_roger_parts(result)
    names = list(result.model.fixef_names)
    return pd.DataFrame(kr.phi_adj, index=names, columns=names)


def _as_contrast_matrix(result: Any, L: Any) -> FloatArray:
    names = list(result.model.fixef_names)
    p = len(names)
    if isinstance(L, pd.DataFrame):
        missing = [c for c in L.columns if c not in names]
        if missing:
            raise ValueError(f"contrast columns {missing} are not fixed effects ({names})")
        L = L.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float)
    elif isinstance(L, pd.Series | dict):
        s = pd.Series(L, dtype=float)
        missing = [c for c in s.index if c not in names]
        if missing:
            raise ValueError(f"contrast names {missing} are not fixed effects ({names})")
        L = s.reindex(names, fill_value=0.0).to_numpy()[None, :]
    arr = np.atleast_2d(np.asarray(L, dtype=np.float64))
    if arr.ndim != 2 or arr.shape[1] != p:
        raise ValueError(
            f"a contrast needs {p} columns (one per fixed effect: {names}), got shape {np.shape(L)}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("contrast matrix has missing or infinite values")
    return arr


def _t_rows(
    result: Any, L: FloatArray, ddf: str, rhs: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Estimate, standard error and df of each row of ``L``."""
    beta = result.fixef.to_numpy()
    est = L @ beta
    if ddf == "satterthwaite":
        parts = _satterthwaite_parts(result)
        out = [_satterthwaite_1d(parts, row) for row in L]
        var = np.array([v for v, _ in out])
        df = np.array([d for _, d in out])
    elif ddf == "kenward-roger":
        kr = _kenward_roger_parts(result)
        var = np.einsum("ij,jk,ik->i", L, kr.phi_adj, L)
        df = np.array([_kr_adjust(kr, row[None, :])[1] for row in L])
    else:
        V = result.vcov.to_numpy()
        var = np.einsum("ij,jk,ik->i", L, V, L)
        df = np.full(len(L), np.inf)
    return est - rhs, np.sqrt(var), df


def coef_table(result: Any, ddf: str = "satterthwaite") -> pd.DataFrame:
    """Fixed effects with standard errors, df, t values and p-values (lmerTest's
    ``coef(summary(fit))``).

    Parameters
    ----------
    result
        A fitted linear mixed model.
    ddf
        ``"satterthwaite"`` (default), ``"kenward-roger"`` (adjusted standard errors and
        df, as pbkrtest) or ``"none"`` (lme4's table: no df, no p-value).

    Returns
    -------
    pandas.DataFrame
        Columns ``Estimate``, ``Std. Error``, ``df``, ``t value``, ``Pr(>|t|)``
        (only the first two and ``t value`` for ``"none"``), one row per fixed effect.
    """
    ddf = normalize_ddf(ddf)
    if ddf != "none":
        _require_lmm(result, f"ddf={ddf!r}")
    names = list(result.model.fixef_names)
    L = np.eye(len(names))
    est, se, df = _t_rows(result, L, ddf, np.zeros(len(names)))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    table = pd.DataFrame({"Estimate": est, "Std. Error": se}, index=pd.Index(names))
    if ddf == "none":
        table["t value"] = t
        return table
    table["df"] = df
    table["t value"] = t
    table["Pr(>|t|)"] = 2.0 * stats.t.sf(np.abs(t), df)
    return table


def _f_table(
    F: float, ndf: float, ddf: float, sigma: float, scale: float = 1.0
) -> dict[str, float]:
    ms = F * sigma**2
    Fs = F * scale
    p = float(stats.f.sf(Fs, ndf, ddf)) if np.isfinite(Fs) else np.nan
    return {
        "Sum Sq": ms * ndf,
        "Mean Sq": ms,
        "NumDF": ndf,
        "DenDF": ddf,
        "F value": Fs,
        "Pr(>F)": p,
    }


def contest_md(
    result: Any, L: FloatArray, ddf: str, rhs: FloatArray | float = 0.0, eps: float = 1.49e-8
) -> dict[str, float]:
    """One F test of ``L beta = rhs`` (lmerTest's ``contestMD``), as a dict of the
    columns ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``, ``F value``, ``Pr(>F)``."""
    L = np.atleast_2d(np.asarray(L, dtype=np.float64))
    rhs_v = np.broadcast_to(np.asarray(rhs, dtype=np.float64), (L.shape[0],)).copy()
    sigma = float(result.sigma)
    beta = result.fixef.to_numpy()
    if L.shape[0] == 0:
        return _f_table(np.nan, np.nan, np.nan, np.nan)
    if np.any(rhs_v != 0):
        beta = beta - np.linalg.pinv(L) @ rhs_v
    if ddf == "kenward-roger":
        kr = _kenward_roger_parts(result)
        q, df2, scale = _kr_adjust(kr, L)
        diff = L @ beta
        wald = float(diff @ np.linalg.solve(L @ kr.phi_adj @ L.T, diff))
        return _f_table(wald / q, q, df2, sigma, scale)
    if ddf == "satterthwaite":
        parts = _satterthwaite_parts(result)
        V = parts.vcov_beta
    else:
        parts = None
        V = result.vcov.to_numpy()
    VL = L @ V @ L.T
    d, P = np.linalg.eigh((VL + VL.T) / 2.0)
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    tol = max(eps * d[0], 0.0)
    pos = d > tol
    qr = int(pos.sum())
    if qr < L.shape[0] and np.any(rhs_v != 0):
        warnings.warn("Contrast is rank deficient and test may be affected", stacklevel=3)
    if qr == 0:
        return _f_table(np.nan, np.nan, np.nan, np.nan)
    PtL = (P.T @ L)[:qr]
    t2 = (PtL @ beta) ** 2 / d[:qr]
    F = float(np.sum(t2) / qr)
    if parts is None:  # ddf == "none": lme4's F value without df or p-value
        row = _f_table(F, qr, np.inf, sigma)
        row["DenDF"] = np.nan
        row["Pr(>F)"] = np.nan
        return row
    nus = np.array([_satterthwaite_1d(parts, PtL[m])[1] for m in range(qr)])
    return _f_table(F, qr, _fstat_ddf(nus), sigma)


def contest(
    result: Any,
    L: Any,
    rhs: float | Sequence[float] = 0.0,
    ddf: str = "satterthwaite",
    joint: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """Tests of linear functions ``L beta`` of the fixed effects (lmerTest's ``contest``).

    Parameters
    ----------
    result
        A fitted linear mixed model.
    L
        Contrast weights: a vector (one per fixed effect), a matrix with one row per
        function, a pandas Series/dict by fixed-effect name, or a DataFrame with
        fixed-effect columns.
    rhs
        Hypothesised value(s) of ``L beta`` (default 0).
    ddf
        ``"satterthwaite"`` (default), ``"kenward-roger"`` or ``"none"``.
    joint
        One F test of all rows together (default) or one t test per row.
    level
        Confidence level of the per-row intervals (``joint=False``).

    Returns
    -------
    pandas.DataFrame
        ``joint=True``: one row with ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``,
        ``F value``, ``Pr(>F)``.  ``joint=False``: per row ``Estimate``,
        ``Std. Error``, ``df``, ``t value``, ``lower``, ``upper``, ``Pr(>|t|)`` (for
        ``ddf="none"``, normal quantiles and p-values).
    """
    ddf = normalize_ddf(ddf)
    if ddf != "none":
        _require_lmm(result, f"ddf={ddf!r}")
    Lm = _as_contrast_matrix(result, L)
    rhs_v = np.broadcast_to(np.asarray(rhs, dtype=np.float64), (Lm.shape[0],)).copy()
    if joint:
        return pd.DataFrame([contest_md(result, Lm, ddf, rhs_v)])
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    est, se, df = _t_rows(result, Lm, ddf, np.zeros(len(Lm)))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (est - rhs_v) / se
    crit = stats.t.ppf(0.5 + level / 2.0, df)
    return pd.DataFrame(
        {
            "Estimate": est,
            "Std. Error": se,
            "df": df,
            "t value": t,
            "lower": est - crit * se,
            "upper": est + crit * se,
            "Pr(>|t|)": 2.0 * stats.t.sf(np.abs(t), df),
        }
    )
