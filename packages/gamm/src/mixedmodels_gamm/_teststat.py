"""mgcv's approximate test of a smooth term (Wood 2013; ``testStat`` as
``summary.gam`` calls it: ``type = 0``).

The Wald statistic ``p' V^r- p`` with the rank-``r`` pseudo-inverse of the smooth's
Bayesian covariance, ``r`` the (fractional) edf: the last, fractional dimension is
mixed in through a 2 x 2 block (eigenvector signs fixed by the sign of their first
element), and the p-value averages the two statistics that the two relative signs of
that block give (so the p-value does not depend on the basis coordinates; the
statistic itself does, and is mgcv's for a basis in mgcv's own coordinates).  Under the
null hypothesis the statistic is a weighted sum of chi-squares; with an estimated scale
it is referred to ``sum_j val_j chi2_1 - (d / k0) chi2_k0 > 0`` (k0 the rounded
residual df).  mgcv evaluates that probability by Davies' (1980) algorithm to 2e-5;
here Imhof's (1961) inversion formula is integrated to 1e-12.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, stats

from mixedmodels.interfaces import FloatArray

__all__ = ["SmoothTest", "psum_chisq", "test_stat"]


@dataclass
class SmoothTest:
    stat: float
    pval: float
    rank: float


def psum_chisq(q: float, lb: FloatArray, df: FloatArray) -> float:
    """``P(sum_j lb_j X_j > q)``, ``X_j ~ chi2(df_j)`` independent (Imhof 1961)."""
    lb = np.asarray(lb, dtype=np.float64)
    h = np.asarray(df, dtype=np.float64)

    def integrand(u: float) -> float:
        if u == 0.0:
            return 0.5 * float(np.sum(h * lb)) - 0.5 * q
        theta = 0.5 * np.sum(h * np.arctan(lb * u)) - 0.5 * q * u
        log_rho = 0.25 * np.sum(h * np.log1p((lb * u) ** 2))
        return float(np.sin(theta) / u * np.exp(-log_rho))

    val, _ = integrate.quad(integrand, 0.0, np.inf, limit=1000, epsabs=1e-13, epsrel=1e-12)
    return float(min(1.0, max(0.0, 0.5 + val / np.pi)))


def test_stat(
    p: FloatArray, R: FloatArray, V: FloatArray, rank: float, res_df: float = -1.0
) -> SmoothTest:
    """mgcv's ``testStat(p, X, V, rank, type = 0, res.df)`` with ``R`` the triangular
    factor of ``X`` (only ``R' R = X' X`` matters: row signs of ``R`` leave the
    statistic unchanged)."""
    Vr = R @ V @ R.T
    Vr = (Vr + Vr.T) / 2.0
    vals, vecs = np.linalg.eigh(Vr)
    order = np.argsort(-vals, kind="stable")
    vals, vecs = vals[order], vecs[:, order]
    siv = np.sign(vecs[0])
    siv[siv == 0] = 1.0
    vecs = vecs * siv[None, :]
    k = max(0, int(np.floor(rank)))
    nu = abs(rank - k)
    k1 = k + 1 if nu > 0 else k
    r_est = int(np.sum(vals > vals.max() * np.finfo(float).eps ** 0.9))
    if r_est < k1:
        k1 = k = r_est
        nu = 0.0
        rank = float(r_est)
    vec = vecs[:, :k1].copy() if k1 < vecs.shape[1] else vecs.copy()
    if nu > 0 and k > 0:
        if k > 1:
            vec[:, : k - 1] = vec[:, : k - 1] / np.sqrt(vals[: k - 1])
        b12 = np.sqrt(max(0.5 * nu * (1.0 - nu), 0.0))
        B = np.array([[1.0, b12], [b12, nu]])
        ev = np.diag(vals[k - 1 : k1] ** -0.5)
        B = ev @ B @ ev
        eb_val, eb_vec = np.linalg.eigh(B)
        rB = eb_vec @ np.diag(np.sqrt(eb_val)) @ eb_vec.T
        vec1 = vec.copy()
        vec1[:, k - 1 : k1] = (rB @ np.diag([-1.0, 1.0]) @ vec[:, k - 1 : k1].T).T
        vec[:, k - 1 : k1] = (rB @ vec[:, k - 1 : k1].T).T
    else:
        vec = vec * np.sqrt(1.0 / vals[0]) if k == 0 else vec / np.sqrt(vals[:k])[None, :]
        vec1 = vec
        if k == 1:
            rank = 1.0
    Rp = R @ p
    d = float(np.sum((vec.T @ Rp) ** 2))
    d1 = float(np.sum((vec1.T @ Rp) ** 2))
    rank1 = rank
    pval = 2.0
    if nu > 0:
        if k1 == 1:
            rank1 = 1.0
            val = np.ones(1)
        else:
            val = np.ones(k1)
            rp = nu + 1.0
            val[k - 1] = (rp + np.sqrt(rp * (2.0 - rp))) / 2.0
            val[k1 - 1] = rp - val[k - 1]
        if res_df <= 0:
            pval = psum_chisq(d, val, np.ones_like(val)) + psum_chisq(d1, val, np.ones_like(val))
            pval /= 2.0
        else:
            k0 = max(1, round(res_df))
            dfs = np.append(np.ones_like(val), k0)
            pval = (
                psum_chisq(0.0, np.append(val, -d / k0), dfs)
                + psum_chisq(0.0, np.append(val, -d1 / k0), dfs)
            ) / 2.0
    if pval > 1:
        if res_df <= 0:
            pval = (stats.chi2.sf(d, rank1) + stats.chi2.sf(d1, rank1)) / 2.0
        else:
            pval = stats.f.sf(d / rank1, rank1, res_df) + stats.f.sf(d1 / rank1, rank1, res_df)
            pval /= 2.0
    return SmoothTest(d, float(min(1.0, pval)), float(rank))
