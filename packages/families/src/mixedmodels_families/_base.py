"""What the families share: response checks and zero truncation."""

from __future__ import annotations

import numpy as np

from mixedmodels.interfaces import ConditionalFamily, FloatArray

__all__ = ["CountFamily", "truncate_derivatives"]


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
