"""HLMdiag's closed-form one-step deletion measures and leverage (``method="approx"``).

The variance components are held at the full-data estimates, so the deleted-data fixed
effects are the generalised-least-squares ones for that marginal covariance ``V``
(Christensen, Pearson & Johnson 1992).  A GLMM is linearised at the final PIRLS
iteration (working response and weights).  ``V^-1`` is applied by Woodbury, never
formed: ``V = scale (I + A A')`` with ``A = Z Lambda`` whitened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.interfaces import FloatArray

from ._influence_units import MEASURES, is_glmm

__all__ = ["Linear", "Pieces", "leverage", "linearise", "one_step", "one_step_delta", "pieces"]

# Largest dense n x q random-effect design built for the one-step formulas.
_MAX_DENSE_ENTRIES = 50_000_000


def _lambdas(result: Any) -> list[FloatArray]:
    """Relative covariance factor of each term, from the structures and theta."""
    model = result.model
    theta = np.asarray(result.theta, dtype=np.float64)
    out, k = [], 0
    for s in model.structures:
        out.append(np.asarray(s.factor(theta[k : k + s.n_params]), dtype=np.float64))
        k += s.n_params
    return out


def _z_lambda(result: Any) -> FloatArray:
    """Dense ``Z Lambda`` (n x q), columns level-major within each term."""
    model = result.model
    n = int(result.nobs)
    lams = _lambdas(result)
    q = sum(t.n_levels * t.dim for t in model.terms)
    if n * q > _MAX_DENSE_ENTRIES:
        raise MemoryError(
            f"method='approx' builds a dense {n} x {q} random-effect design; "
            "use method='exact' for a model this large"
        )
    A = np.zeros((n, q))
    rows = np.arange(n)
    offset = 0
    for t, lam in zip(model.terms, lams, strict=True):
        zl = np.asarray(t.Z, dtype=np.float64) @ lam  # (n, dim)
        codes = np.asarray(t.codes)
        for j in range(t.dim):  # a loop over the term's columns (few)
            A[rows, offset + codes * t.dim + j] = zl[:, j]
        offset += t.n_levels * t.dim
    return A


@dataclass
class Linear:
    """The (linearised) model in whitened coordinates: ``Var(y) = scale (I + A A')``."""

    X: FloatArray
    y: FloatArray
    A: FloatArray
    scale: float
    A_raw: FloatArray  # Z Lambda before whitening, for Nobre & Singer's leverage


def linearise(result: Any) -> Linear:
    model = result.model
    X = np.asarray(model.X, dtype=np.float64)
    A = _z_lambda(result)
    offset = 0.0 if model.offset is None else np.asarray(model.offset, dtype=np.float64)
    if is_glmm(result):
        eta = result.linear_predictor().to_numpy(dtype=np.float64)
        mu = result.fitted().to_numpy(dtype=np.float64)
        y = np.asarray(model.y, dtype=np.float64)
        mu_eta = result.link.mu_eta(eta)
        pw = model.prior_weights
        pw = np.ones_like(mu) if pw is None else np.asarray(pw, dtype=np.float64)
        # PIRLS's last iteration: working response and weights (lme4's `weights(fit,
        # "working")`); the dispersion, where there is one, scales the residual part.
        w = pw * mu_eta**2 / result.family.variance(mu)
        z = eta - offset + (y - mu) / mu_eta
        scale = float(result.dispersion) if getattr(result, "dispersion", None) else 1.0
    else:
        z = np.asarray(model.response, dtype=np.float64) - offset
        w = np.ones(X.shape[0]) if model.weights is None else np.asarray(model.weights)
        scale = float(result.sigma) ** 2
    sw = np.sqrt(w)
    # Whitening by the prior/working weights leaves every deletion measure unchanged.
    return Linear(sw[:, None] * X, sw * z, sw[:, None] * A, scale, A)


@dataclass
class Pieces:
    XVXinv: FloatArray
    XVX: FloatArray
    G: FloatArray  # A L^-T, so that A (I + A'A)^-1 A' = G G'
    W: FloatArray  # V^-1 X
    r: FloatArray  # V^-1 (y - X b) = P y
    scale: float


def pieces(lin: Linear) -> Pieces:
    """``V^-1`` applied by Woodbury: ``V^-1 = (I - A (I + A'A)^-1 A') / scale``."""
    q = lin.A.shape[1]
    L = np.linalg.cholesky(np.eye(q) + lin.A.T @ lin.A)
    G = np.asarray(np.linalg.solve(L, lin.A.T).T, dtype=np.float64)

    def vinv(M: FloatArray) -> FloatArray:
        return (M - G @ (G.T @ M)) / lin.scale

    W = vinv(lin.X)
    XVX = lin.X.T @ W
    XVXinv = np.asarray(np.linalg.inv(XVX), dtype=np.float64)
    beta = XVXinv @ (W.T @ lin.y)
    r = vinv(lin.y - lin.X @ beta)
    return Pieces(XVXinv, XVX, G, W, r, lin.scale)


def leverage(lin: Linear, pc: Pieces) -> pd.DataFrame:
    """HLMdiag's ``leverage.lmerMod`` per observation, without forming ``n x n``.

    With ``V = s (I + A A')`` and ``Z D Z' = V - s I``: ``diag(H1) = diag(X B W')``,
    ``diag(H2) = |g_i|^2 - diag(H1) + s diag(W B W')`` (``B = (X'V^-1X)^-1``)."""
    XB = lin.X @ pc.XVXinv
    h1 = np.einsum("ij,ij->i", XB, pc.W)
    g2 = np.einsum("ij,ij->i", pc.G, pc.G)
    m = np.einsum("ij,ij->i", pc.W @ pc.XVXinv, pc.W)
    h2 = g2 - h1 + pc.scale * m
    uc = np.einsum("ij,ij->i", lin.A_raw, lin.A_raw)
    return pd.DataFrame(
        {"leverage": h1 + h2, "leverage_fixef": h1, "leverage_ranef": h2, "leverage_ranef_uc": uc}
    )


def one_step(pc: Pieces, rows: Sequence[np.ndarray], p: int) -> pd.DataFrame:
    """HLMdiag's one-step measures, batched over units of equal size."""
    k = len(rows)
    out = np.full((k, 4), np.nan)
    sizes = np.array([len(r) for r in rows])
    for s in np.unique(sizes):  # a loop over distinct unit sizes
        which = np.flatnonzero(sizes == s)
        idx = np.stack([rows[int(i)] for i in which])  # (m, s)
        G_I = pc.G[idx]  # (m, s, q)
        W_I = pc.W[idx]  # (m, s, p)
        r_I = pc.r[idx]  # (m, s)
        eye = np.eye(int(s))
        vinv_II = (eye - G_I @ np.swapaxes(G_I, 1, 2)) / pc.scale
        WB = W_I @ pc.XVXinv  # (m, s, p)
        P_II = vinv_II - WB @ np.swapaxes(W_I, 1, 2)
        # b - b_(I) = B W_I' P_II^-1 r_I
        t = np.linalg.solve(P_II, r_I[..., None])[..., 0]  # (m, s)
        cdd = np.einsum("msp,ms->mp", WB, t)
        cooks = np.einsum("mp,pq,mq->m", cdd, pc.XVX, cdd) / p
        # X' N X = X'V^-1X - W_I' vinv_II^-1 W_I (the deleted data's information)
        Wc = np.einsum("msp,mp->ms", W_I, cdd)
        u = np.linalg.solve(vinv_II, Wc[..., None])[..., 0]
        mdffits = (cooks * p - np.einsum("ms,ms->m", Wc, u)) / p
        # B_(I) = B + B W_I' P_II^-1 W_I B: det ratio and trace by the small s x s side
        S = np.linalg.solve(P_II, W_I @ np.swapaxes(WB, 1, 2))  # P^-1 W_I B W_I'
        covratio = np.linalg.det(eye + S)
        covtrace = np.abs(np.trace(S, axis1=1, axis2=2))
        out[which] = np.column_stack([cooks, mdffits, covratio, covtrace])
    return pd.DataFrame(out, columns=MEASURES)


def one_step_delta(pc: Pieces, rows: Sequence[np.ndarray]) -> FloatArray:
    """``b - b_(I)`` for each unit by the one-step formula (batched by unit size)."""
    k, p = len(rows), pc.XVX.shape[0]
    out = np.full((k, p), np.nan)
    sizes = np.array([len(r) for r in rows])
    for s in np.unique(sizes):  # a loop over distinct unit sizes
        which = np.flatnonzero(sizes == s)
        idx = np.stack([rows[int(i)] for i in which])
        G_I, W_I, r_I = pc.G[idx], pc.W[idx], pc.r[idx]
        WB = W_I @ pc.XVXinv
        P_II = (np.eye(int(s)) - G_I @ np.swapaxes(G_I, 1, 2)) / pc.scale - WB @ np.swapaxes(
            W_I, 1, 2
        )
        t = np.linalg.solve(P_II, r_I[..., None])[..., 0]
        out[which] = np.einsum("msp,ms->mp", WB, t)
    return out
