"""Kenward-Roger's adjusted covariance and denominator df for LMMs, as pbkrtest.

Halekoh & Højsgaard (2014): the covariance of the observations is linear in the
variance-covariance parameters of the random effects and the residual variance,
``V = sum_r gamma_r G_r``, and the adjusted covariance of beta-hat and the df come from
traces of products of ``V^-1 G_r``.  All n x n products are formed in the space of the
random effects by the Woodbury identity (``(I + U U')^-k = I - U (M^-1 + ... + M^-k) U'``
with ``M = U'U + I``), so the cost is that of dense algebra of the size of the random
effects, not of the observations.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..interfaces import FloatArray

# Largest number of random effects for which the Kenward-Roger matrices are formed.
_KR_MAX_Q = 12_000


@dataclass
class _KenwardRoger:
    phi: FloatArray  # unadjusted vcov(beta)
    phi_adj: FloatArray  # adjusted vcov(beta)
    P: FloatArray  # (g, p, p)
    W: FloatArray  # (g, g)
    #: Standardised matrices (decision 0014): beta = T beta~; P and W are the
    #: standardised problem's, phi~ its unadjusted vcov (phi and phi_adj are the user's).
    T: FloatArray | None = None
    phi_std: FloatArray | None = None


def _sparse_Z(terms: Any, n: int, sw: FloatArray) -> sp.csc_matrix:
    blocks = []
    for t in terms:
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
    # A fit on standardised matrices (decision 0014): computed there, where the
    # matrices are well conditioned, and the fixed-effect quantities mapped back (the
    # adjustment and the df do not depend on linear maps of beta or of the covariance
    # parameters).
    transform = getattr(result._problem, "transform", None)
    terms = model.terms if transform is None else transform.terms
    theta = result.theta if transform is None else transform.theta_to_standard(result.theta)[0]
    X = np.asarray(model.X if transform is None else transform.X, dtype=np.float64)
    n, p = X.shape
    sw = np.ones(n) if model.weights is None else np.sqrt(np.asarray(model.weights, float))
    Z = _sparse_Z(terms, n, sw)
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
    thetas = _split_theta(model, theta)
    lambdas = [
        np.asarray(s.factor(th), float) for s, th in zip(model.structures, thetas, strict=True)
    ]
    for t, lam in zip(terms, lambdas, strict=True):
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
    for t, s, th in zip(terms, model.structures, thetas, strict=True):
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
    if transform is not None:
        # beta = T beta~: Phi = T Phi~ T' (the df are computed with L T and Phi~).
        out = _KenwardRoger(
            transform.vcov_from_standard(phi),
            transform.vcov_from_standard(phi_adj),
            P,
            W,
            transform.T,
            phi,
        )
    else:
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
    if kr.T is not None and kr.phi_std is not None:
        L, phi = L @ kr.T, kr.phi_std  # L beta = (L T) beta~
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


# Per-result cache (results are not modified, and pickle without it).
_KR_CACHE: weakref.WeakKeyDictionary[Any, _KenwardRoger] = weakref.WeakKeyDictionary()
