"""Continuous families: glmmTMB's ``beta_family`` (logit link, precision ``phi``), the
gaussian with a dispersion model, and the Tweedie (compound Poisson-gamma)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, gammaln, psi

from mixedmodels.interfaces import ConditionalFamily, FloatArray

from ._base import Higher, tetragamma, trigamma
from ._tweedie_series import tweedie_series_terms

__all__ = [
    "BetaFamily",
    "GaussianTMBFamily",
    "LognormalFamily",
    "StudentTFamily",
    "TweedieFamily",
]


class BetaFamily(ConditionalFamily):
    """Beta with mean ``mu`` and precision ``phi`` (shapes ``mu phi``, ``(1 - mu) phi``;
    glmmTMB's ``beta_family()``, ``sigma()`` is ``phi``)."""

    name: ClassVar[str] = "beta"
    default_link = "logit"
    links = ("logit", "probit", "cloglog")
    support = "unit"

    def valid_mu(self, mu: FloatArray) -> np.ndarray:
        return np.isfinite(mu) & (mu > 0) & (mu < 1)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        return np.clip(np.asarray(y, dtype=np.float64), 1e-3, 1 - 1e-3)

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        super().validate_response(y, weights)
        at0, at1 = int(np.sum(y == 0)), int(np.sum(y == 1))
        if at0 or at1:
            raise ValueError(
                f"beta family: the response must lie strictly between 0 and 1 ({at0} rows "
                f"are exactly 0, {at1} exactly 1); use the ordered beta family (glmmTMB's "
                "ordbeta) for responses with zeros and ones, or shrink them into (0, 1)"
            )
        if np.any((y < 0) | (y > 1)):
            raise ValueError("beta family: the response must lie between 0 and 1")

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        a, b = mu * phi, (1.0 - mu) * phi
        return (
            gammaln(phi)
            - gammaln(a)
            - gammaln(b)
            + (a - 1.0) * np.log(y)
            + (b - 1.0) * np.log1p(-y)
        )

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        a, b = mu * phi, (1.0 - mu) * phi
        d1 = phi * (psi(b) - psi(a) + np.log(y) - np.log1p(-y))
        d2 = -(phi**2) * (trigamma(a) + trigamma(b))
        return self.logpdf(y, mu, phi, shape), d1, d2

    def logpdf_higher_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> Higher:
        a, b = mu * phi, (1.0 - mu) * phi
        dig_a, dig_b = psi(a), psi(b)
        tri_a, tri_b = trigamma(a), trigamma(b)
        tet_a, tet_b = tetragamma(a), tetragamma(b)
        log_y, log_1my = np.log(y), np.log1p(-y)
        l1 = phi * (dig_b - dig_a + log_y - log_1my)
        l2 = -(phi**2) * (tri_a + tri_b)
        third = -(phi**3) * (tet_a - tet_b)
        l_p = phi * (psi(phi) - mu * dig_a - (1.0 - mu) * dig_b + mu * log_y + (1.0 - mu) * log_1my)
        l1_p = l1 + phi**2 * ((1.0 - mu) * tri_b - mu * tri_a)
        l2_p = 2.0 * l2 - phi**3 * (mu * tet_a + (1.0 - mu) * tet_b)
        ll = gammaln(phi) - gammaln(a) - gammaln(b) + (a - 1.0) * log_y + (b - 1.0) * log_1my
        return ll, l1, l2, third, (l_p, l1_p, l2_p)

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return mu * (1.0 - mu) / (1.0 + phi)

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        y = rng.beta(mu * phi, (1.0 - mu) * phi)
        # small shapes put draws within rounding of 0 or 1: keep them inside (0, 1)
        return np.clip(y, np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0))


class GaussianTMBFamily(ConditionalFamily):
    """Gaussian for the general engine (a ``dispformula`` for the residual variance):
    glmmTMB's dispersion is the variance ``phi``; ``sigma()`` is ``sqrt(phi)``."""

    name: ClassVar[str] = "tmb_gaussian"
    default_link = "identity"
    links = ("identity", "log", "inverse")
    support = "real"

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        return -0.5 * (np.log(2.0 * np.pi * phi) + (y - mu) ** 2 / phi)

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        return self.logpdf(y, mu, phi, shape), (y - mu) / phi, -1.0 / np.broadcast_to(phi, mu.shape)

    def logpdf_higher_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> Higher:
        phi = np.broadcast_to(phi, mu.shape)
        r = y - mu
        l1 = r / phi
        ll = -0.5 * (np.log(2.0 * np.pi * phi) + r * l1)
        return ll, l1, -1.0 / phi, np.zeros(mu.shape), (0.5 * r * l1 - 0.5, -l1, 1.0 / phi)

    def dispersion_start(self, y: FloatArray) -> float:
        return float(np.log(np.var(y))) if y.size > 1 and np.var(y) > 0 else 0.0

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.broadcast_to(phi, np.shape(mu)).astype(np.float64)

    def sigma(self, phi: FloatArray) -> FloatArray:
        return np.sqrt(phi)

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        return rng.normal(mu, np.sqrt(phi))


def _same_shape(
    y: FloatArray, mu: FloatArray, phi: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``y``, ``mu``, ``phi`` as float arrays of one shape: the arrays themselves where
    they already are (the engine's rows; Tweedie keeps its series for the same response
    and dispersion arrays), else broadcast."""
    args = (y, mu, phi)
    if all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in args) and (
        y.shape == mu.shape == phi.shape
    ):
        return y, mu, phi
    out = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in args))
    return out[0], out[1], out[2]


class TweedieFamily(ConditionalFamily):
    """Tweedie with ``Var(y) = phi mu^p``, ``1 < p < 2`` (glmmTMB's ``tweedie``): the
    power is ``p = 1 + plogis(psi)`` with ``psi`` estimated; the density by Dunn and
    Smyth's series, as glmmTMB."""

    name: ClassVar[str] = "tweedie"
    default_link = "log"
    links = ("log",)
    shape_names = ("psi",)
    support = "nonnegative"

    @staticmethod
    def power(shape: FloatArray) -> float:
        return 1.0 + float(expit(shape[0]))

    def valid_mu(self, mu: FloatArray) -> np.ndarray:
        return np.isfinite(mu) & (mu > 0)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        return np.asarray(y, dtype=np.float64) + 0.1

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        super().validate_response(y, weights)
        if np.any(y < 0):
            raise ValueError(f"tweedie family: negative responses ({int(np.sum(y < 0))} rows)")

    def _mu_part(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, p: float
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """``y mu^(1-p) / (1-p) - mu^(2-p) / (2-p)``, ``mu^(-p)``, ``mu^(1-p)`` and
        ``mu^(2-p)`` (one power, the others by products)."""
        m_p = mu ** (-p)
        m1p = m_p * mu
        m2p = m1p * mu
        return y * m1p / (1.0 - p) - m2p / (2.0 - p), m_p, m1p, m2p

    def _with_series(
        self, part: FloatArray, y: FloatArray, phi: FloatArray, p: float
    ) -> FloatArray:
        """``part / phi`` plus ``log a`` on the positive responses."""
        out = part / phi
        # the engine's inner iterations pass the same read-only response and dispersion
        # arrays call after call: their series (0 at the zeros) is kept for them
        last = self.__dict__.get("_addend")
        if last is not None and last[0] is y and last[1] is phi and last[2] == p:
            return np.add(out, last[3], out=out)
        pos = y > 0
        if np.any(pos):
            if not (y.flags.writeable or phi.flags.writeable):
                add = np.zeros(out.shape)
                add[pos] = self._series(y[pos], phi[pos], p)[0]
                self.__dict__["_addend"] = (y, phi, p, add)
                return np.add(out, add, out=out)
            out[pos] += self._series(y[pos], phi[pos], p)[0]
        return out

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        p = self.power(shape)
        y, mu, phi = _same_shape(y, mu, phi)
        return self._with_series(self._mu_part(y, mu, phi, p)[0], y, phi, p)

    def _series(
        self, y: FloatArray, phi: FloatArray, p: float
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        # The series does not involve mu: the inner iterations of a fit (mu changes,
        # phi and p do not) reuse the last value.
        y_key = hash(y.tobytes())
        key = (p, y_key, hash(phi.tobytes()))
        cache: dict[Any, tuple[FloatArray, FloatArray, FloatArray]] = self.__dict__.setdefault(
            "_cache", {}
        )
        if key not in cache:
            if len(cache) >= 8:  # the centre and the gradient's steps in psi and phi
                cache.pop(next(iter(cache)))
            cache[key] = self._series_distinct(y, y_key, phi, p)
        return cache[key]

    def _series_distinct(
        self, y: FloatArray, y_key: int, phi: FloatArray, p: float
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The series on the distinct responses when the dispersion is constant (no
        ``dispformula``): a response with repeated values (counts per chick) has a
        fraction of distinct rows; each row's sum is the same as on all the rows (the
        window's width, the largest over the rows, is the same over the distinct
        ones).  The distinct values of the last response are kept."""
        if y.size < 32 or not np.all(phi == phi.flat[0]):
            return tweedie_series_terms(y, phi, p)
        last = self.__dict__.get("_distinct")
        if last is None or last[0] != y_key or not np.array_equal(last[1], y):
            values, inverse = np.unique(y, return_inverse=True)
            last = (y_key, y.copy(), values, inverse.reshape(y.shape))
            self.__dict__["_distinct"] = last
        _, _, values, inverse = last
        if values.size > 0.75 * y.size:
            return tweedie_series_terms(y, phi, p)
        parts = tweedie_series_terms(values, np.full(values.size, phi.flat[0]), p)
        return parts[0][inverse], parts[1][inverse], parts[2][inverse]

    def _derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, p: float
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """``l``, ``l'``, ``l''`` in ``mu``, the ``mu`` part and ``mu^(-p)``, ``mu^(1-p)``."""
        part, m_p, m1p, _ = self._mu_part(y, mu, phi, p)
        d1 = (y * m_p - m1p) / phi
        d2 = (-p * y * m_p / mu - (1.0 - p) * m_p) / phi
        return self._with_series(part, y, phi, p), d1, d2, part, m_p, m1p

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        p = self.power(shape)
        y, mu, phi = _same_shape(y, mu, phi)
        return self._derivatives(y, mu, phi, p)[:3]

    def logpdf_higher_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> Higher:
        # the series a(y, phi, p) is free of mu: the third derivative in closed form
        p = self.power(shape)
        y, mu, phi = _same_shape(y, mu, phi)
        ll, l1, l2, part, m_p, _ = self._derivatives(y, mu, phi, p)
        imu = 1.0 / mu
        third = (p * (p + 1.0) * y * m_p * imu * imu + p * (1.0 - p) * m_p * imu) / phi
        # the mu part is proportional to 1 / phi; the series' part from its terms' mean
        l_p = -part / phi
        pos = y > 0
        if np.any(pos):
            mean_j = self._series(y[pos], phi[pos], p)[1]
            l_p[pos] -= mean_j / (p - 1.0)  # 1 - alpha = 1 / (p - 1)
        return ll, l1, l2, third, (l_p, -l1, -l2)

    def logpdf_shape_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> list[tuple[FloatArray, FloatArray, FloatArray]]:
        # p = 1 + plogis(psi): dp/dpsi = (p - 1)(2 - p); the mu part's powers differ in
        # p by log(mu) factors, the series' by its terms' means (tweedie_series_terms)
        p = self.power(shape)
        y, mu, phi = _same_shape(y, mu, phi)
        _, l1, l2, _, m_p, m1p = self._derivatives(y, mu, phi, p)
        lmu = np.log(mu)
        m2p = m1p * mu
        dpart = (
            y * m1p / (1.0 - p) * (1.0 / (1.0 - p) - lmu)
            - m2p / (2.0 - p) * (1.0 / (2.0 - p) - lmu)
        ) / phi
        pos = y > 0
        if np.any(pos):
            dpart[pos] += self._series(y[pos], phi[pos], p)[2]
        d1 = -lmu * l1
        d2 = (m_p - y * m_p / mu) / phi - lmu * l2
        jac = (p - 1.0) * (2.0 - p)
        return [(dpart * jac, d1 * jac, d2 * jac)]

    def shape_start(self) -> FloatArray:
        return np.zeros(1)  # p = 1.5

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return phi * mu ** self.power(shape)

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        p = self.power(shape)
        mu, phi = np.broadcast_arrays(np.asarray(mu, float), np.asarray(phi, float))
        lam = mu ** (2.0 - p) / (phi * (2.0 - p))
        alpha = (2.0 - p) / (p - 1.0)
        scale = phi * (p - 1.0) * mu ** (p - 1.0)
        n = rng.poisson(lam)
        out = np.zeros(mu.shape)
        pos = n > 0
        out[pos] = rng.gamma(n[pos] * alpha, scale[pos])
        return out


class StudentTFamily(ConditionalFamily):
    """Student t (glmmTMB's ``t_family``): ``y = mu + phi T_nu``, scale ``phi``
    (``sigma()``), degrees of freedom ``nu = exp(psi)`` estimated."""

    name: ClassVar[str] = "t"
    default_link = "identity"
    links = ("identity", "log")
    shape_names = ("psi",)
    support = "real"

    @staticmethod
    def df(shape: FloatArray) -> float:
        return float(np.exp(shape[0]))

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        nu = self.df(shape)
        z = (y - mu) / phi
        return (
            gammaln((nu + 1.0) / 2.0)
            - gammaln(nu / 2.0)
            - 0.5 * np.log(nu * np.pi)
            - np.log(phi)
            - (nu + 1.0) / 2.0 * np.log1p(z * z / nu)
        )

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        nu = self.df(shape)
        z = (y - mu) / phi
        den = nu + z * z
        d1 = (nu + 1.0) * z / (phi * den)
        d2 = -(nu + 1.0) * (nu - z * z) / (phi * phi * den * den)
        return self.logpdf(y, mu, phi, shape), d1, d2

    def shape_start(self) -> FloatArray:
        return np.array([np.log(5.0)])

    def dispersion_start(self, y: FloatArray) -> float:
        return float(np.log(np.std(y))) if y.size > 1 and np.std(y) > 0 else 0.0

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        nu = self.df(shape)
        factor = nu / (nu - 2.0) if nu > 2.0 else np.inf
        return np.broadcast_to(phi**2 * factor, np.shape(mu)).astype(np.float64)

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        return mu + phi * rng.standard_t(self.df(shape), size=np.shape(mu))


class LognormalFamily(ConditionalFamily):
    """Log-normal with mean ``mu`` and standard deviation ``phi`` on the data scale
    (glmmTMB's ``lognormal``, added in glmmTMB 1.1.6): ``log y`` is normal with variance
    ``s2 = log(1 + (phi / mu)^2)`` and mean ``log(mu) - s2 / 2``; ``sigma()`` is ``phi``.

    Zero has density 0: with a ``ziformula`` the zeros are the zero-inflation part (a
    hurdle, as glmmTMB).
    """

    name: ClassVar[str] = "lognormal"
    default_link = "log"
    links = ("log", "identity", "inverse")
    support = "positive"
    truncated = True  # zero has density 0: the engine's hurdle handling of zeros

    def valid_mu(self, mu: FloatArray) -> np.ndarray:
        return np.isfinite(mu) & (mu > 0)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        return np.maximum(np.asarray(y, dtype=np.float64), 1e-3)

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        super().validate_response(y, weights)
        if np.any(y < 0):
            raise ValueError(f"lognormal family: negative responses ({int(np.sum(y < 0))} rows)")
        if np.all(y == 0):
            raise ValueError("lognormal family: every response is zero")

    def dispersion_start(self, y: FloatArray) -> float:
        pos = y[y > 0]
        return float(np.log(np.std(pos))) if pos.size > 1 and np.std(pos) > 0 else 0.0

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        s1 = np.log1p((phi / mu) ** 2)
        with np.errstate(divide="ignore"):
            z = np.log(y)
        e = z - (np.log(mu) - 0.5 * s1)
        out = -0.5 * np.log(2.0 * np.pi * s1) - e * e / (2.0 * s1) - z
        return np.where(y > 0, out, -np.inf)

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        # A = phi^2 / (mu^2 + phi^2); s1 = log(1 + phi^2 / mu^2); e = log(y) - m
        A = phi**2 / (mu**2 + phi**2)
        s1 = np.log1p((phi / mu) ** 2)
        with np.errstate(divide="ignore"):
            e = np.log(y) - (np.log(mu) - 0.5 * s1)
        s1p = -2.0 * A / mu
        s1pp = 2.0 * A * (3.0 - 2.0 * A) / mu**2
        ep = -(1.0 + A) / mu
        epp = (1.0 + 3.0 * A - 2.0 * A * A) / mu**2
        d1 = -0.5 * s1p / s1 - e * ep / s1 + e * e * s1p / (2.0 * s1**2)
        d2 = (
            -0.5 * (s1pp / s1 - s1p**2 / s1**2)
            - (ep * ep + e * epp) / s1
            + e * ep * s1p / s1**2
            + (2.0 * e * ep * s1p + e * e * s1pp) / (2.0 * s1**2)
            - e * e * s1p**2 / s1**3
        )
        return self.logpdf(y, mu, phi, shape), d1, d2

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.broadcast_to(np.asarray(phi, float) ** 2, np.shape(mu)).astype(np.float64)

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        s1 = np.log1p((phi / mu) ** 2)
        return np.exp(rng.normal(np.log(mu) - 0.5 * s1, np.sqrt(s1)))
