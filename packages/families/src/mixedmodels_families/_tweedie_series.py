"""Dunn and Smyth's (2005) series for the Tweedie density, ``1 < p < 2``."""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from mixedmodels.interfaces import FloatArray

__all__ = ["tweedie_log_series", "tweedie_series_terms"]


def tweedie_log_series(y: FloatArray, phi: FloatArray, p: float) -> FloatArray:
    """``log a(y, phi, p)`` for ``y > 0`` (:func:`tweedie_series_terms`)."""
    return tweedie_series_terms(y, phi, p)[0]


def tweedie_series_terms(
    y: FloatArray, phi: FloatArray, p: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``log a(y, phi, p)`` for ``y > 0``: the density is ``a(y, phi, p) exp((y theta -
    kappa(theta)) / phi)``, ``a = (1 / y) sum_j W_j``.

    The terms ``W_j`` peak at ``j_max = y^(2 - p) / (phi (2 - p))``; the sum runs over a
    window of ``j`` around it wide enough that the terms left out are below double
    precision: ``log W_j`` has curvature ``-(1 - alpha) / j`` there, so the terms' bell
    has standard deviation ``sqrt(j_max / (1 - alpha))``, and the window is 10 of those
    (terms below ``exp(-50)`` of the largest) plus 15 terms (small ``j_max``, where the
    terms fall off factorially from ``j = 1``).

    Returns ``log a``, the terms' mean ``E[j] = sum_j j W_j / sum_j W_j`` and
    ``d log a / dp``: ``log W_j`` is ``-j (1 - alpha) log(phi)`` plus terms free of
    ``phi``, so ``d log a / d log(phi) = -(1 - alpha) E[j]``; and
    ``d log W_j / dp = j (dc/dp + alpha' digamma(-j alpha))``, ``alpha' = 1 / (1 - p)^2``,
    so ``d log a / dp = E[j] dc/dp + alpha' E[j digamma(-j alpha)]``.
    """
    alpha = (2.0 - p) / (1.0 - p)  # negative
    # log W_j = j * c - lgamma(j + 1) - lgamma(-j alpha)
    c = -alpha * np.log(y) + alpha * np.log(p - 1.0) - (1.0 - alpha) * np.log(phi) - np.log(2.0 - p)
    jmax = np.maximum(y ** (2.0 - p) / (phi * (2.0 - p)), 1.0)
    half = int(np.ceil(np.max(10.0 * np.sqrt(jmax / (1.0 - alpha)) + 15.0)))
    base = np.maximum(np.round(jmax) - half, 1.0).astype(np.int64)
    # the j-only parts, tabulated once for every j any row's window reaches
    top = int(base.max()) + 2 * half + 1
    jj = np.arange(top + 1, dtype=np.float64)
    table = gammaln(jj + 1.0) + gammaln(np.maximum(-jj * alpha, 1e-300))
    # j digamma(-j alpha): the j-only part of d log W_j / dp (over alpha')
    jdig = jj * digamma(np.maximum(-jj * alpha, 1e-300))
    dalpha = 1.0 / (1.0 - p) ** 2
    dc = dalpha * (-np.log(y) + np.log(p - 1.0) + np.log(phi)) + alpha / (p - 1.0) + 1.0 / (2.0 - p)
    offsets = np.arange(2 * half + 1)
    out = np.empty(y.size)
    mean_j = np.empty(y.size)
    mean_jdig = np.empty(y.size)
    for start in range(0, y.size, 4096):  # chunks bound the (rows x window) memory
        sl = slice(start, start + 4096)
        j = base[sl, None] + offsets[None, :]
        logw = j * c[sl, None] - table[j]
        m = logw.max(axis=1)
        w = np.exp(logw - m[:, None])
        total = w.sum(axis=1)
        out[sl] = m + np.log(total)
        mean_j[sl] = (w * j).sum(axis=1) / total
        mean_jdig[sl] = (w * jdig[j]).sum(axis=1) / total
    return out - np.log(y), mean_j, mean_j * dc + dalpha * mean_jdig
