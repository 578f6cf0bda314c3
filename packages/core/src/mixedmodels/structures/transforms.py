"""Maps from unconstrained parameters to valid correlation matrices and their
Cholesky factors, shared by the structured covariances and the residual correlations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..interfaces import FloatArray

__all__ = ["cholesky_derivative", "cpc_cholesky", "logistic", "safe_cholesky"]


def safe_cholesky(C: FloatArray) -> FloatArray:
    """Cholesky factor of a (near-)positive definite matrix, with a tiny ridge if needed."""
    try:
        return np.asarray(np.linalg.cholesky(C), dtype=np.float64)
    except np.linalg.LinAlgError:
        eps = 1e-12 * max(1.0, float(np.max(np.abs(np.diag(C)))))
        for _ in range(8):
            try:
                return np.asarray(np.linalg.cholesky(C + eps * np.eye(C.shape[0])), np.float64)
            except np.linalg.LinAlgError:
                eps *= 100.0
        w, V = np.linalg.eigh(C)
        root = V * np.sqrt(np.maximum(w, 0.0))
        # A triangular factor with the same product: QR of the transposed square root.
        r = np.linalg.qr(root.T, mode="r")
        L = np.asarray(r, dtype=np.float64).T
        return L * np.sign(np.where(np.diag(L) == 0, 1.0, np.diag(L)))[None, :]


def cholesky_derivative(L: FloatArray, dC: FloatArray) -> FloatArray:
    """Derivatives of the Cholesky factor ``L`` of ``C`` for a stack of ``dC``.

    ``dL = L Phi(L^-1 dC L^-T)`` where ``Phi`` keeps the strict lower triangle and half
    the diagonal (Murray 2016).
    """
    Linv = np.linalg.inv(L)
    inner = Linv[None] @ dC @ Linv.T[None]
    k = L.shape[0]
    low = np.tril(np.ones((k, k)), -1) + 0.5 * np.eye(k)
    return np.asarray(L[None] @ (inner * low[None]), dtype=np.float64)


def cpc_cholesky(z: FloatArray, k: int) -> FloatArray:
    """Cholesky factor of the correlation matrix with canonical partial correlations
    ``z`` (column-major strict lower triangle, each in (-1, 1))."""
    L = np.zeros((k, k))
    L[0, 0] = 1.0
    cols, rows = np.triu_indices(k, 1)
    Z = np.zeros((k, k))
    Z[rows, cols] = z
    for i in range(1, k):
        rest = 1.0
        for j in range(i):
            L[i, j] = Z[i, j] * np.sqrt(max(rest, 0.0))
            rest -= L[i, j] ** 2
        L[i, i] = np.sqrt(max(rest, 0.0))
    return L


def logistic(t: Any) -> Any:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(t, dtype=np.float64)))
