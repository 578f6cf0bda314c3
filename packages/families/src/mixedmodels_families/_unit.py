"""The ordered beta (glmmTMB's ``ordbeta``, Kubinec 2022): a beta response on (0, 1)
with point masses at exactly 0 and 1 from two cutpoints on the linear predictor."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.special import expit, gammaln, psi

from mixedmodels.interfaces import ConditionalFamily, FloatArray

from ._base import trigamma

__all__ = ["OrdBetaFamily"]


def _log_expit(x: FloatArray) -> FloatArray:
    return -np.logaddexp(0.0, -x)


class OrdBetaFamily(ConditionalFamily):
    """Ordered beta: ``P(y = 0) = 1 - plogis(eta - psi_1)``, ``P(y = 1) = plogis(eta -
    psi_2)``, and between them a beta with mean ``mu = plogis(eta)`` and precision
    ``phi`` (glmmTMB's ``ordbeta``: ``psi`` the two cutpoints, ``sigma()`` is ``phi``).
    Only the logit link."""

    name: ClassVar[str] = "ordbeta"
    default_link = "logit"
    links = ("logit",)
    shape_names = ("psi1", "psi2")
    support = "unit_closed"

    def valid_mu(self, mu: FloatArray) -> np.ndarray:
        return np.isfinite(mu) & (mu > 0) & (mu < 1)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        return np.clip(np.asarray(y, dtype=np.float64), 0.05, 0.95)

    def shape_start(self) -> FloatArray:
        return np.array([-1.0, 1.0])

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        super().validate_response(y, weights)
        if np.any((y < 0) | (y > 1)):
            raise ValueError(
                f"ordbeta family: the response must lie in [0, 1] "
                f"({int(np.sum((y < 0) | (y > 1)))} rows outside)"
            )

    @staticmethod
    def _parts(
        y: FloatArray, mu: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, np.ndarray, np.ndarray]:
        y, mu = np.broadcast_arrays(np.asarray(y, float), np.asarray(mu, float))
        eta = np.log(mu) - np.log1p(-mu)
        return y, mu, eta - shape[0], eta - shape[1], y == 0, y == 1

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        return self.logpdf_derivatives(y, mu, phi, shape)[0]

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        y, mu, e0, e1, zero, one = self._parts(y, mu, shape)
        phi = np.broadcast_to(np.asarray(phi, float), mu.shape)
        F0, F1 = expit(e0), expit(e1)
        g0, g1 = F0 * (1.0 - F0), F1 * (1.0 - F1)
        # the cutpoint part in eta: log(1 - F0), log(F1) or log(F0 - F1)
        diff = F0 - F1
        with np.errstate(divide="ignore", invalid="ignore"):
            log_mid = _log_expit(e0) + np.log(-np.expm1(_log_expit(e1) - _log_expit(e0)))
            r = (g0 - g1) / diff
            c_ee_mid = (g0 * (1.0 - 2.0 * F0) - g1 * (1.0 - 2.0 * F1)) / diff - r * r
        c = np.where(zero, _log_expit(-e0), np.where(one, _log_expit(e1), log_mid))
        c_e = np.where(zero, -F0, np.where(one, 1.0 - F1, r))
        c_ee = np.where(zero, -g0, np.where(one, -g1, c_ee_mid))
        # to derivatives in mu (logit link: deta/dmu = 1 / (mu (1 - mu)))
        m1 = mu * (1.0 - mu)
        m2 = m1 * (1.0 - 2.0 * mu)
        c_m = c_e / m1
        c_mm = (c_ee - c_m * m2) / (m1 * m1)
        # the beta density of the responses strictly inside (0, 1)
        mid = ~(zero | one)
        ys = np.where(mid, y, 0.5)
        a, b = mu * phi, (1.0 - mu) * phi
        lb = (
            gammaln(phi)
            - gammaln(a)
            - gammaln(b)
            + (a - 1.0) * np.log(ys)
            + (b - 1.0) * np.log1p(-ys)
        )
        b1 = phi * (psi(b) - psi(a) + np.log(ys) - np.log1p(-ys))
        b2 = -(phi**2) * (trigamma(a) + trigamma(b))
        return (
            c + np.where(mid, lb, 0.0),
            c_m + np.where(mid, b1, 0.0),
            c_mm + np.where(mid, b2, 0.0),
        )

    def _probs(
        self, mu: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        eta = np.log(mu) - np.log1p(-mu)
        p0 = expit(shape[0] - eta)
        p1 = expit(eta - shape[1])
        return p0, p1, 1.0 - p0 - p1

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        mu = np.asarray(mu, dtype=np.float64)
        _, p1, pm = self._probs(mu, shape)
        return p1 + pm * mu

    def predict_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        """glmmTMB's ``predict`` of an ordered beta: the beta part's mean ``mu``."""
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        mu = np.asarray(mu, dtype=np.float64)
        _, p1, pm = self._probs(mu, shape)
        m2 = p1 + pm * (mu * mu + mu * (1.0 - mu) / (1.0 + phi))
        m = p1 + pm * mu
        return m2 - m * m

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        mu, phi = np.broadcast_arrays(np.asarray(mu, float), np.asarray(phi, float))
        p0, p1, _ = self._probs(mu, shape)
        y = rng.beta(mu * phi, (1.0 - mu) * phi)
        y = np.clip(y, np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0))
        u = rng.random(mu.shape)
        return np.where(u < p0, 0.0, np.where(u > 1.0 - p1, 1.0, y))
