"""What the families share: response checks and zero truncation."""

from __future__ import annotations

import numpy as np

from mixedmodels.interfaces import ConditionalFamily, FloatArray

__all__ = [
    "CountFamily",
    "Higher",
    "tetragamma",
    "trigamma",
    "truncate_derivatives",
    "truncate_higher",
]

#: what :meth:`~mixedmodels.interfaces.ConditionalFamily.logpdf_higher_derivatives` returns
Higher = tuple[
    FloatArray,
    FloatArray,
    FloatArray,
    FloatArray | None,
    tuple[FloatArray, FloatArray, FloatArray] | None,
]


class CountFamily(ConditionalFamily):
    """A family of non-negative integer counts, log link."""

    default_link = "log"
    links = ("log",)
    support = "count"

    def valid_mu(self, mu: FloatArray) -> np.ndarray:
        return np.isfinite(mu) & (mu > 0)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        return np.asarray(y, dtype=np.float64) + 0.1

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        super().validate_response(y, weights)
        if np.any(y < 0):
            raise ValueError(f"{self.name} family: negative counts ({int(np.sum(y < 0))} rows)")
        if np.any(y != np.round(y)):
            raise ValueError(f"{self.name} family: non-integer counts")
        if self.truncated and np.all(y == 0):
            raise ValueError(f"{self.name} family: every count is zero")


def truncate_derivatives(
    ll: FloatArray,
    d1: FloatArray,
    d2: FloatArray,
    L0: FloatArray,
    L1: FloatArray,
    L2: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The zero-truncated log-density ``l - log(1 - f(0))`` and its derivatives in
    ``mu``, from those of ``l`` and of ``L0 = log f(0)`` (``L1``, ``L2``)."""
    # q = f0 / (1 - f0) without cancellation for f0 near 0 or 1
    q = 1.0 / np.expm1(-L0)
    log1m = np.log(-np.expm1(L0))
    return ll - log1m, d1 + q * L1, d2 + q * L2 + q * (1.0 + q) * L1 * L1


def truncate_higher(
    full: Higher,
    L0: FloatArray,
    L_m: tuple[FloatArray, FloatArray, FloatArray],
    L_p: tuple[FloatArray, FloatArray, FloatArray] | None,
) -> Higher:
    """:func:`truncate_derivatives` for the higher derivatives: ``full`` the untruncated
    density's (:meth:`~mixedmodels.interfaces.ConditionalFamily.
    logpdf_higher_derivatives`), ``L_m`` the first three ``mu``-derivatives of
    ``L0 = log f(0)`` and ``L_p`` the derivatives of ``L0``, ``dL0/dmu`` and
    ``d2L0/dmu2`` in ``log(phi)``.  With ``G(L0) = -log(1 - exp(L0))``: ``G' = q``,
    ``G'' = q (1 + q)``, ``G''' = q (1 + q) (1 + 2 q)``, ``q = f0 / (1 - f0)``."""
    ll, d1, d2, d3, dphi = full
    L1, L2, L3 = L_m
    ll, d1, d2 = truncate_derivatives(ll, d1, d2, L0, L1, L2)
    q = 1.0 / np.expm1(-L0)
    q1 = q * (1.0 + q)
    q2 = q1 * (1.0 + 2.0 * q)
    t3 = None if d3 is None else d3 + q * L3 + 3.0 * q1 * L1 * L2 + q2 * L1**3
    tp = None
    if dphi is not None and L_p is not None:
        l_p, l1_p, l2_p = dphi
        P0, P1, P2 = L_p
        tp = (
            l_p + q * P0,
            l1_p + q * P1 + q1 * P0 * L1,
            l2_p + q * P2 + q1 * P0 * L2 + q2 * P0 * L1 * L1 + 2.0 * q1 * L1 * P1,
        )
    return ll, d1, d2, t3, tp


# Bernoulli numbers B_2k of the asymptotic series of the trigamma function
_B2K = (1.0 / 6.0, -1.0 / 30.0, 1.0 / 42.0, -1.0 / 30.0, 5.0 / 66.0, -691.0 / 2730.0, 7.0 / 6.0)


_LIFT = np.arange(10.0)  # the recurrence's ten steps


def trigamma(x: FloatArray) -> FloatArray:
    """The trigamma function ``psi'(x)`` for ``x > 0``, vectorised.

    ``scipy.special.polygamma(1, x)`` goes through the Hurwitz zeta function, several
    times slower on the hot path of the families' second derivatives.  Here: the
    recurrence ``psi'(x) = psi'(x + 10) + sum_{j < 10} 1 / (x + j)^2`` (exact for every
    ``x``; its ten terms in one broadcast operation, not ten, numpy's per-call overhead
    being most of the cost on a few hundred rows), then the asymptotic series
    ``1/z + 1/(2 z^2) + sum_k B_2k / z^(2k+1)`` to ``B_14`` at ``z = x + 10``
    (truncation below 1e-16 relative for ``z >= 10``).
    """
    x = np.asarray(x, dtype=np.float64)
    inv = 1.0 / np.add.outer(x, _LIFT)
    acc = np.einsum("...j,...j->...", inv, inv)
    iz = 1.0 / (x + 10.0)
    iz2 = iz * iz
    series = _B2K[-1] * iz2
    for b in reversed(_B2K[:-1]):  # Horner in 1/z^2
        series = (series + b) * iz2
    return acc + iz + 0.5 * iz2 + series * iz


def tetragamma(x: FloatArray) -> FloatArray:
    """The tetragamma function ``psi''(x)`` for ``x > 0``, vectorised as
    :func:`trigamma`: ``psi''(x) = psi''(x + 10) - sum_{j < 10} 2 / (x + j)^3``, then
    ``-(1/z^2 + 1/z^3 + sum_k (2k + 1) B_2k / z^(2k+2))`` to ``B_14``."""
    x = np.asarray(x, dtype=np.float64)
    inv = 1.0 / np.add.outer(x, _LIFT)
    acc = -2.0 * np.einsum("...j,...j,...j->...", inv, inv, inv)
    iz = 1.0 / (x + 10.0)
    iz2 = iz * iz
    k = len(_B2K)
    series = (2 * k + 1) * _B2K[k - 1] * iz2
    for k in range(len(_B2K) - 1, 0, -1):  # Horner in 1/z^2
        series = (series + (2 * k + 1) * _B2K[k - 1]) * iz2
    return acc - (iz2 + iz2 * iz + series * iz2)
