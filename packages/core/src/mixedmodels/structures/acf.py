"""Autocorrelations of stationary ARMA processes, and the partial-autocorrelation
parameterisation that keeps them stationary (R's ``ARMAacf``; Monahan 1984).
"""

from __future__ import annotations

import numpy as np

from ..interfaces import FloatArray

__all__ = ["arma_acf", "arma_coefs", "pacf_to_acf", "pacf_to_ar"]


def pacf_to_ar(pacf: FloatArray) -> FloatArray:
    """AR coefficients of the stationary process with partial autocorrelations ``pacf``
    (Durbin-Levinson; Monahan 1984): every ``pacf`` in ``(-1, 1)^p`` gives a stationary
    AR(p)."""
    phi = np.zeros(0)
    for r in np.asarray(pacf, dtype=np.float64):
        phi = np.concatenate([phi - r * phi[::-1], [r]])
    return phi


def pacf_to_acf(pacf: FloatArray) -> FloatArray:
    """Autocorrelations at lags ``0..len(pacf)`` from partial autocorrelations."""
    k = len(pacf)
    rho = np.ones(k + 1)
    phi = np.zeros(0)
    for j in range(1, k + 1):
        r = pacf[j - 1]
        v = 1.0 - float(phi @ rho[1:j]) if j > 1 else 1.0
        rho[j] = r * v + (float(phi @ rho[j - 1 : 0 : -1]) if j > 1 else 0.0)
        phi = np.concatenate([phi - r * phi[::-1], [r]])
    return rho


def arma_acf(ar: FloatArray, ma: FloatArray, lag_max: int) -> FloatArray:
    """Autocorrelations at lags ``0..lag_max`` of ``x_t = sum ar_i x_{t-i} + e_t +
    sum ma_j e_{t-j}`` (R's ``ARMAacf``)."""
    ar = np.asarray(ar, dtype=np.float64)
    ma = np.asarray(ma, dtype=np.float64)
    p, q = ar.size, ma.size
    K = max(p, q)
    theta = np.concatenate([[1.0], ma])
    psi = np.zeros(q + 1)
    for j in range(q + 1):
        psi[j] = theta[j] + sum(ar[i - 1] * psi[j - i] for i in range(1, min(j, p) + 1))
    # gamma(k) - sum_i ar_i gamma(|k - i|) = sum_{j=k}^{q} theta_j psi_{j-k}, k = 0..K
    A = np.eye(K + 1)
    for k in range(K + 1):
        for i in range(1, p + 1):
            A[k, abs(k - i)] -= ar[i - 1]
    rhs = np.array([sum(theta[j] * psi[j - k] for j in range(k, q + 1)) for k in range(K + 1)])
    gamma = np.empty(max(lag_max, K) + 1)
    gamma[: K + 1] = np.linalg.solve(A, rhs)
    for k in range(K + 1, gamma.size):
        gamma[k] = sum(ar[i - 1] * gamma[k - i] for i in range(1, p + 1))
    return np.asarray(gamma[: lag_max + 1] / gamma[0], dtype=np.float64)


def arma_coefs(r: FloatArray, p: int, q: int) -> tuple[FloatArray, FloatArray]:
    pacf = np.tanh(0.5 * r)
    ar = pacf_to_ar(pacf[:p])
    ma = -pacf_to_ar(pacf[p : p + q])
    return ar, ma
