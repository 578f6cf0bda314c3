"""mgcv's cubic regression spline for one covariate (``s(x, bs = "cr")``).

Wood (2017, section 5.3.1): a natural cubic spline parametrised by its values at ``k``
knots placed at the quantiles of the unique covariate values (R's ``quantile``, type
7, as ``smooth.construct.cr.smooth.spec``), penalty ``S = D' B^-1 D`` (the integrated
squared second derivative), linear extrapolation beyond the end knots; then the
sum-to-zero constraint absorbed by a Householder QR step as ``smoothCon`` does.  The
columns are mgcv's own (values at knots, then the same Householder step), so
coordinate-dependent quantities (summary.gam's F statistic) agree with mgcv's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedmodels.interfaces import FloatArray

__all__ = ["CRS", "absorb_sum_to_zero", "cr_basis"]


@dataclass
class CRS:
    """A constructed basis: model matrix ``X`` (n x (k - 1)) and penalty ``S``."""

    X: FloatArray
    S: FloatArray
    knots: FloatArray
    F: FloatArray  # second derivatives at the knots = F @ values at the knots
    Z2: FloatArray
    X_full: FloatArray | None = None  # before the sum-to-zero constraint (numeric by)
    S_full: FloatArray | None = None

    def predict_matrix(self, x: FloatArray) -> FloatArray:
        """The (constrained) basis at new covariate values."""
        return _cr_matrix(np.asarray(x, dtype=np.float64), self.knots, self.F) @ self.Z2


def _cr_parts(knots: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``F`` (k x k, zero first and last rows: natural spline) and ``S``."""
    k = knots.size
    h = np.diff(knots)
    D = np.zeros((k - 2, k))
    i = np.arange(k - 2)
    D[i, i] = 1.0 / h[:-1]
    D[i, i + 1] = -1.0 / h[:-1] - 1.0 / h[1:]
    D[i, i + 2] = 1.0 / h[1:]
    B = np.diag((h[:-1] + h[1:]) / 3.0)
    j = np.arange(k - 3)
    B[j, j + 1] = B[j + 1, j] = h[1:-1] / 6.0
    BiD = np.linalg.solve(B, D)
    F = np.zeros((k, k))
    F[1:-1] = BiD
    S = D.T @ BiD
    return F, (S + S.T) / 2.0


def _cr_matrix(x: FloatArray, knots: FloatArray, F: FloatArray) -> FloatArray:
    """Values at ``x`` of the cardinal natural cubic splines (one column per knot)."""
    k = knots.size
    n = x.size
    j = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, k - 2)
    h = knots[j + 1] - knots[j]
    out = np.zeros((n, k))
    rows = np.arange(n)
    inside = (x >= knots[0]) & (x <= knots[-1])
    am = (knots[j + 1] - x) / h
    ap = (x - knots[j]) / h
    cm = ((knots[j + 1] - x) ** 3 / h - h * (knots[j + 1] - x)) / 6.0
    cp = ((x - knots[j]) ** 3 / h - h * (x - knots[j])) / 6.0
    Xin = cm[:, None] * F[j] + cp[:, None] * F[j + 1]
    Xin[rows, j] += am
    Xin[rows, j + 1] += ap
    out[inside] = Xin[inside]
    # linear extrapolation with the end slopes (mgcv's crspl)
    lo, hi = x < knots[0], x > knots[-1]
    if lo.any():
        h0 = knots[1] - knots[0]
        slope = -F[0] * h0 / 3.0 - F[1] * h0 / 6.0
        slope[0] -= 1.0 / h0
        slope[1] += 1.0 / h0
        out[lo] = (x[lo] - knots[0])[:, None] * slope[None, :]
        out[lo, 0] += 1.0
    if hi.any():
        h1 = knots[-1] - knots[-2]
        slope = F[-2] * h1 / 6.0 + F[-1] * h1 / 3.0
        slope[-2] -= 1.0 / h1
        slope[-1] += 1.0 / h1
        out[hi] = (x[hi] - knots[-1])[:, None] * slope[None, :]
        out[hi, -1] += 1.0
    return out


def absorb_sum_to_zero(X: FloatArray) -> FloatArray:
    """``Z`` (k x (k - 1)) with ``colMeans(X) Z = 0``: the Householder reflector of the
    constraint without its first column, as ``smoothCon``'s ``qr.qty`` step."""
    c = X.mean(axis=0)
    v = c.copy()
    v[0] += np.copysign(np.linalg.norm(c), c[0] if c[0] != 0 else 1.0)
    H = np.eye(c.size) - 2.0 * np.outer(v, v) / (v @ v)
    return np.asarray(H[:, 1:], dtype=np.float64)


def cr_basis(x: FloatArray, k: int = 10, term: str = "s(x)") -> CRS:
    """mgcv's ``s(x, bs = "cr", k = k)`` basis with its sum-to-zero constraint.

    Raises
    ------
    ValueError
        If ``k`` exceeds the number of unique covariate values or is below 3.
    """
    x = np.asarray(x, dtype=np.float64)
    uniq = np.unique(x)
    if k > uniq.size:
        raise ValueError(
            f"{term}: k = {k} basis functions but the covariate has only {uniq.size} unique "
            f"values; lower k (e.g. s(..., k={max(3, uniq.size)}))"
        )
    if k < 3:
        raise ValueError(f"{term}: k must be at least 3 for a cubic regression spline, got {k}")
    knots = np.quantile(uniq, np.linspace(0.0, 1.0, k))
    F, S = _cr_parts(knots)
    X = _cr_matrix(x, knots, F)
    Z2 = absorb_sum_to_zero(X)
    return CRS(X @ Z2, Z2.T @ S @ Z2, knots, F, Z2, X, S)
