"""Batched small dense linear algebra in the ``(k, k, n)`` layout: ``n`` independent
``k x k`` problems, vectorised over the last axis (loops run over ``k`` only).

For the nearest-neighbour likelihood ``k = m + 1`` is small and ``n`` large; numpy's
stacked LAPACK calls pay a per-matrix overhead that dominates at that size.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = ["backward_solve", "cholesky", "cholesky_packed", "forward_solve", "packed_index"]


def cholesky(A: FloatArray) -> FloatArray:
    """Lower Cholesky factors of ``A (k, k, n)`` (symmetric positive definite).

    Raises
    ------
    numpy.linalg.LinAlgError
        If some matrix is not positive definite.
    """
    k = A.shape[0]
    L = np.zeros_like(A)
    for j in range(k):
        if j:
            s = A[j:, j] - np.einsum("ikn,kn->in", L[j:, :j], L[j, :j], optimize=False)
        else:
            s = A[j:, j].copy()
        if np.any(~(s[0] > 0)):
            raise np.linalg.LinAlgError("matrix not positive definite")
        dj = np.sqrt(s[0])
        L[j, j] = dj
        L[j + 1 :, j] = s[1:] / dj
    return L


def forward_solve(L: FloatArray, B: FloatArray) -> FloatArray:
    """``L^{-1} B`` for lower-triangular ``L (k, k, n)`` and ``B (k, r, n)``."""
    k = L.shape[0]
    X = np.empty_like(B)
    for j in range(k):
        rhs = B[j] - np.einsum("kn,krn->rn", L[j, :j], X[:j], optimize=False) if j else B[j]
        X[j] = rhs / L[j, j]
    return X


def backward_solve(L: FloatArray, B: FloatArray) -> FloatArray:
    """``L^{-T} B`` for lower-triangular ``L (k, k, n)`` and ``B (k, r, n)``."""
    k = L.shape[0]
    X = np.empty_like(B)
    for j in range(k - 1, -1, -1):
        if j < k - 1:
            rhs = B[j] - np.einsum("kn,krn->rn", L[j + 1 :, j], X[j + 1 :], optimize=False)
        else:
            rhs = B[j]
        X[j] = rhs / L[j, j]
    return X


def packed_index(k: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows and columns of the lower triangle (diagonal included) of a ``k x k``
    matrix in packed row-major order (entry ``t`` is ``(rows[t], cols[t])``)."""
    rows, cols = np.tril_indices(k)
    return rows.astype(np.int64), cols.astype(np.int64)


def cholesky_packed(P: FloatArray, k: int) -> FloatArray:
    """:func:`cholesky` of matrices given by their packed lower triangles
    ``P (k (k + 1) / 2, n)`` (the order of :func:`packed_index`); returns ``(k, k, n)``."""
    n = P.shape[1]
    L = np.zeros((k, k, n))
    for j in range(k):
        col = np.array([i * (i + 1) // 2 + j for i in range(j, k)])
        s = P[col] - np.einsum("ikn,kn->in", L[j:, :j], L[j, :j], optimize=False) if j else P[col]
        if np.any(~(s[0] > 0)):
            raise np.linalg.LinAlgError("matrix not positive definite")
        dj = np.sqrt(s[0])
        L[j, j] = dj
        L[j + 1 :, j] = s[1:] / dj
    return L
