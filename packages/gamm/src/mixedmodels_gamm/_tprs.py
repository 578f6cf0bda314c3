"""mgcv's thin-plate regression spline for one covariate (``s(x)``, ``bs = "tp"``).

Wood (2003): the thin-plate radial basis ``E_ij = eta(|x_i - x_j|)`` over the unique
covariate values (``eta(r) = r^3 / 12`` for d = 1, m = 2), truncated to its ``k``
eigenvectors of largest absolute eigenvalue, with the polynomial null space
``T = [1, x]`` and the constraint ``T' U_k delta = 0`` absorbed; then the
sum-to-zero identifiability constraint absorbed by a QR step, as ``smoothCon`` does.
The function space and the penalty are mgcv's (the coordinates need not be: nothing
fitted depends on them once the smooth is written as a random effect).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import eigsh

from mixedmodels.interfaces import FloatArray

__all__ = ["TPRS", "tprs"]

MAX_KNOTS = 2000  # mgcv's max.knots: more unique values are subsampled


@dataclass
class TPRS:
    """A constructed basis: model matrix ``X`` (n x (k - 1)) and penalty ``S``."""

    X: FloatArray
    S: FloatArray
    knots: FloatArray
    shift: float
    Uk: FloatArray
    Z: FloatArray
    Z2: FloatArray
    X_full: FloatArray | None = None  # before the sum-to-zero constraint (numeric by)
    S_full: FloatArray | None = None

    @property
    def null_columns(self) -> FloatArray:
        """Unit vectors of the unconstrained penalty's null space (its last two
        coordinates, the polynomial ``[1, x]``): mgcv's coordinates there."""
        k = self.S_full.shape[0] if self.S_full is not None else self.S.shape[0] + 1
        return np.eye(k)[:, k - 2 :]

    def predict_matrix(self, x: FloatArray) -> FloatArray:
        """The basis at new covariate values."""
        xs = np.asarray(x, dtype=np.float64) - self.shift
        X = np.column_stack([_radial(xs, self.knots, self.Uk @ self.Z), np.ones_like(xs), xs])
        return X @ self.Z2


def _eta(a: FloatArray, b: FloatArray) -> FloatArray:
    """``|a_i - b_j|^3 / 12`` (products, not ``**``: ``pow`` costs 10x)."""
    r = np.abs(a[:, None] - b[None, :])
    r3 = r * r
    r3 *= r
    r3 /= 12.0
    return r3


def _radial(xs: FloatArray, knots: FloatArray, W: FloatArray, chunk: int = 4096) -> FloatArray:
    """``E(xs, knots) @ W`` without forming all of ``E`` (rows in chunks)."""
    out = np.empty((xs.size, W.shape[1]))
    for i in range(0, xs.size, chunk):
        part = xs[i : i + chunk]
        out[i : i + chunk] = _eta(part, knots) @ W
    return out


def _leading_eigenpairs(E: FloatArray, k: int) -> tuple[FloatArray, FloatArray]:
    """The ``k`` eigenpairs of largest |eigenvalue| of the symmetric ``E``, largest first.

    As mgcv, by Lanczos (ARPACK, ``eigsh``) rather than a full decomposition: on 400
    unique values 10x cheaper.  The start vector is fixed (deterministic basis) and each
    eigenvector's sign set by its largest component.  Small problems (where ARPACK needs
    ``k < n``) use the full ``eigh``.
    """
    n = E.shape[0]
    if n <= max(2 * k + 1, 50):
        evals, evecs = np.linalg.eigh(E)
        order = np.argsort(-np.abs(evals))[:k]
        vals, vecs = evals[order], evecs[:, order]
    else:
        v0: FloatArray = np.asarray(np.random.default_rng(0).standard_normal(n))
        evals, evecs = eigsh(E, k=k, which="LM", tol=0.0, v0=v0)
        order = np.argsort(-np.abs(evals))
        vals, vecs = evals[order], evecs[:, order]
    idx = np.argmax(np.abs(vecs), axis=0)
    vecs = vecs * np.sign(vecs[idx, np.arange(vecs.shape[1])])
    return vals, vecs


def tprs(x: FloatArray, k: int = 10, term: str = "s(x)") -> TPRS:
    """mgcv's ``s(x, bs = "tp", k = k)`` basis with its sum-to-zero constraint.

    Raises
    ------
    ValueError
        If ``k`` exceeds the number of unique covariate values (mgcv: "A term has
        fewer unique covariate combinations than specified maximum degrees of
        freedom") or is below 3.
    """
    x = np.asarray(x, dtype=np.float64)
    shift = float(np.mean(x))
    xs = x - shift
    uniq, inverse = np.unique(xs, return_inverse=True)
    if k > uniq.size:
        raise ValueError(
            f"{term}: k = {k} basis functions but the covariate has only {uniq.size} unique "
            f"values; lower k (e.g. s(..., k={max(3, uniq.size)}))"
        )
    if k < 3:
        raise ValueError(f"{term}: k must be at least 3 for a thin-plate spline, got {k}")
    subsampled = uniq.size > MAX_KNOTS
    if subsampled:
        rng = np.random.default_rng(1)
        uniq = np.sort(rng.choice(uniq, MAX_KNOTS, replace=False))
    Ek = _eta(uniq, uniq)
    Dk, Uk = _leading_eigenpairs(Ek, k)
    Tk = np.column_stack([np.ones_like(uniq), uniq])
    q, _ = np.linalg.qr(Uk.T @ Tk, mode="complete")
    Z = q[:, 2:]  # T' Uk delta = 0
    UkZ = Uk @ Z
    # knots = the unique values: the radial block is E's rows, already at hand
    radial = _radial(xs, uniq, UkZ) if subsampled else (Ek @ UkZ)[inverse.ravel()]
    X = np.column_stack([radial, np.ones_like(xs), xs])
    S = np.zeros((k, k))
    S[: k - 2, : k - 2] = Z.T @ (Dk[:, None] * Z)
    # sum-to-zero constraint (mgcv's absorb.cons): null space of the column sums
    C = X.sum(axis=0)[:, None]
    q2, _ = np.linalg.qr(C, mode="complete")
    Z2 = q2[:, 1:]
    return TPRS(X @ Z2, Z2.T @ S @ Z2, uniq, shift, Uk, Z, Z2, X, S)
