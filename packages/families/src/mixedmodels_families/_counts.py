"""Count families: glmmTMB's ``nbinom2``, ``nbinom1``, ``genpois``, zero-truncated
``truncated_nbinom2`` / ``truncated_poisson`` (hurdles with ``ziformula``) and the
Poisson (for zero-inflated Poisson models)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.special import gammaln, psi

from mixedmodels.interfaces import FloatArray

from ._base import (
    CountFamily,
    Higher,
    tetragamma,
    trigamma,
    truncate_derivatives,
    truncate_higher,
)

__all__ = [
    "GenPoissonFamily",
    "NBinom1Family",
    "NBinom2Family",
    "NBinom12Family",
    "PoissonTMBFamily",
    "TruncatedNBinom2Family",
    "TruncatedPoissonFamily",
]


class _LastConstant:
    """The terms of the NB2 log-density free of ``mu`` (``lgamma(y + k) - lgamma(k) -
    lgamma(y + 1)``, and ``log k``) for the last ``(y, k)``: the inner iterations of a
    fit change ``mu`` only, and the log-gammas are most of an evaluation's cost."""

    def __init__(self) -> None:
        self.y: FloatArray | None = None
        self.size: FloatArray | None = None
        self.value: tuple[FloatArray, FloatArray] | None = None

    def __call__(self, y: FloatArray, size: FloatArray) -> tuple[FloatArray, FloatArray]:
        if (
            self.value is not None
            and self.y is not None
            and self.size is not None
            and y.shape == self.y.shape
            and size.shape == self.size.shape
            and np.array_equal(size, self.size)
            and np.array_equal(y, self.y)
        ):
            return self.value
        value = (gammaln(y + size) - gammaln(size) - gammaln(y + 1.0), np.log(size))
        self.y, self.size, self.value = y.copy(), size.copy(), value
        return value


_nb2_constant = _LastConstant()


def _nb2(y: FloatArray, mu: FloatArray, size: FloatArray) -> FloatArray:
    y, mu, size = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (y, mu, size)))
    const, log_size = _nb2_constant(y, size)
    log_sm = np.log(size + mu)
    return const + size * (log_size - log_sm) + np.where(y > 0, y * (np.log(mu) - log_sm), 0.0)


def _nb2_derivatives(
    y: FloatArray, mu: FloatArray, size: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    sm = size + mu
    ysm = (y + size) / sm
    ymu = y / mu
    d1 = ymu - ysm
    d2 = ysm / sm - ymu / mu
    return _nb2(y, mu, size), d1, d2


def _nb2_higher(
    y: FloatArray, mu: FloatArray, size: FloatArray
) -> tuple[FloatArray, tuple[FloatArray, FloatArray, FloatArray]]:
    """The NB2 log-density's third derivative in ``mu`` and the derivatives of the
    log-density and its first two ``mu``-derivatives in ``log(size)``."""
    y, mu, size = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (y, mu, size)))
    sm = size + mu
    isq = 1.0 / (sm * sm)
    ysm = (y + size) / sm
    d3 = 2.0 * (y / mu**3 - ysm * isq)
    # psi(y + k) - psi(k) vanishes at y = 0: the special function on positive counts only
    pos = np.flatnonzero(y.ravel() > 0)
    flat = np.zeros(y.size)
    kp = size.ravel()[pos]
    flat[pos] = psi(y.ravel()[pos] + kp) - psi(kp)
    dpsi = flat.reshape(y.shape)
    l_p = size * (dpsi + np.log(size / sm) + (mu - y) / sm)
    l1_p = size * (y - mu) * isq
    l2_p = size * (mu - size - 2.0 * y) * isq / sm
    return d3, (l_p, l1_p, l2_p)


def _sample_nb(mu: FloatArray, size: FloatArray, rng: np.random.Generator) -> FloatArray:
    return rng.negative_binomial(size, size / (size + mu)).astype(np.float64)


class NBinom2Family(CountFamily):
    """Negative binomial with quadratic variance ``mu + mu^2 / phi`` (glmmTMB's
    ``nbinom2``; ``sigma()`` is the size ``phi``)."""

    name: ClassVar[str] = "nbinom2"

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        return _nb2(y, mu, phi)

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        return _nb2_derivatives(y, mu, phi)

    def logpdf_higher_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> Higher | None:
        return (*_nb2_derivatives(y, mu, phi), *_nb2_higher(y, mu, phi))

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return mu + mu**2 / phi

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        return _sample_nb(mu, phi, rng)


class NBinom1Family(CountFamily):
    """Negative binomial with linear variance ``mu (1 + phi)`` (glmmTMB's ``nbinom1``;
    size ``mu / phi``; ``sigma()`` is ``phi``)."""

    name: ClassVar[str] = "nbinom1"

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        y, mu, phi = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (y, mu, phi)))
        k = mu / phi
        # lgamma(y + k) - lgamma(k) - lgamma(y + 1): one call on the three stacked
        n = k.size
        g = gammaln(np.concatenate([(y + k).ravel(), k.ravel(), y.ravel() + 1.0]))
        lg = (g[:n] - g[n : 2 * n] - g[2 * n :]).reshape(k.shape)
        log1p_phi = np.log1p(phi)
        return lg - k * log1p_phi + y * (np.log(phi) - log1p_phi)

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        y, mu, phi = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (y, mu, phi)))
        k = mu / phi
        # psi(y + k) - psi(k) and its trigamma analogue vanish at y = 0: only the
        # positive counts pay for the special functions
        pos = np.flatnonzero(y > 0)
        kp = k.ravel()[pos]
        # y + k and k in one call of each special function
        both = np.concatenate([y.ravel()[pos] + kp, kp])
        m = pos.size
        dpsi = np.zeros(k.size)
        dtri = np.zeros(k.size)
        p0, t0 = psi(both), trigamma(both)
        dpsi[pos] = p0[:m] - p0[m:]
        dtri[pos] = t0[:m] - t0[m:]
        d1 = (dpsi.reshape(k.shape) - np.log1p(phi)) / phi
        d2 = dtri.reshape(k.shape) / phi**2
        return self.logpdf(y, mu, phi, shape), d1, d2

    def logpdf_higher_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> Higher:
        y, mu, phi = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (y, mu, phi)))
        k = mu / phi
        # the polygamma differences vanish at y = 0: positive counts only
        pos = np.flatnonzero(y.ravel() > 0)
        kp = k.ravel()[pos]
        both = np.concatenate([y.ravel()[pos] + kp, kp])  # one call of each function
        m = pos.size
        d0, d1, d2 = (np.zeros(k.size) for _ in range(3))
        for out, fun in ((d0, psi), (d1, trigamma), (d2, tetragamma)):
            v = fun(both)
            out[pos] = v[:m] - v[m:]
        dpsi, dtri, dtet = (v.reshape(k.shape) for v in (d0, d1, d2))
        log1p_phi = np.log1p(phi)
        l1 = (dpsi - log1p_phi) / phi
        l2 = dtri / phi**2
        third = dtet / phi**3
        # k = mu / phi: dk / dlog(phi) = -k
        l_p = -k * (dpsi - log1p_phi) - k * phi / (1.0 + phi) + y / (1.0 + phi)
        l1_p = -dtri * k / phi - 1.0 / (1.0 + phi) - l1
        l2_p = -dtet * k / phi**2 - 2.0 * l2
        return self.logpdf(y, mu, phi, shape), l1, l2, third, (l_p, l1_p, l2_p)

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return mu * (1.0 + phi)

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        return _sample_nb(mu, mu / phi, rng)


class NBinom12Family(CountFamily):
    """Negative binomial with variance ``mu (1 + phi + mu / exp(psi))`` (glmmTMB's
    ``nbinom12``, NB1 and NB2 together): size ``k = mu / (phi + mu exp(-psi))``;
    ``sigma()`` is ``phi``, ``psi`` is estimated."""

    name: ClassVar[str] = "nbinom12"
    shape_names = ("psi",)

    @staticmethod
    def _size(
        mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``k`` and its first two derivatives in ``mu``."""
        s = float(np.exp(shape[0]))
        den = s * phi + mu
        return s * mu / den, s * s * phi / den**2, -2.0 * s * s * phi / den**3

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        return _nb2(y, mu, self._size(mu, phi, shape)[0])

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        # l(mu, k(mu)): partial derivatives in mu and in the size k, then the chain rule
        k, k1, k2 = self._size(mu, phi, shape)
        km = k + mu
        l_m = y / mu - (y + k) / km
        l_mm = -y / mu**2 + (y + k) / km**2
        l_k = psi(y + k) - psi(k) + np.log(k / km) + (mu - y) / km
        l_mk = (y - mu) / km**2
        l_kk = trigamma(y + k) - trigamma(k) + 1.0 / k - 1.0 / km - (mu - y) / km**2
        d1 = l_m + l_k * k1
        d2 = l_mm + 2.0 * l_mk * k1 + l_kk * k1 * k1 + l_k * k2
        return _nb2(y, mu, k), d1, d2

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return mu * (1.0 + phi + mu / np.exp(shape[0]))

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        return _sample_nb(mu, self._size(mu, phi, shape)[0], rng)


class GenPoissonFamily(CountFamily):
    """Generalized Poisson (Consul), glmmTMB's ``genpois``: mean ``mu``, variance
    ``mu phi``; ``theta = mu / sqrt(phi)``, ``lambda = 1 - 1 / sqrt(phi)``."""

    name: ClassVar[str] = "genpois"

    @staticmethod
    def _parts(mu: FloatArray, phi: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        s = np.sqrt(phi)
        return mu / s, 1.0 - 1.0 / s, s

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        th, lam, _ = self._parts(mu, phi)
        inner = th + lam * y
        return np.where(
            inner > 0,
            np.log(th) + (y - 1.0) * np.log(np.maximum(inner, 1e-300)) - inner - gammaln(y + 1.0),
            -np.inf,
        )

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        th, lam, s = self._parts(mu, phi)
        inner = th + lam * y
        d1 = (1.0 / th + (y - 1.0) / inner - 1.0) / s
        d2 = (-1.0 / th**2 - (y - 1.0) / inner**2) / s**2
        return self.logpdf(y, mu, phi, shape), d1, d2

    def logpdf_higher_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> Higher:
        th, lam, s = self._parts(mu, phi)
        inner = th + lam * y
        ym1 = y - 1.0
        l1 = (1.0 / th + ym1 / inner - 1.0) / s
        l2 = (-1.0 / th**2 - ym1 / inner**2) / s**2
        third = (2.0 / th**3 + 2.0 * ym1 / inner**3) / s**3
        # d/dlog(phi): s' = s / 2, theta' = -theta / 2, inner' = (y / s - theta) / 2
        dinner = 0.5 * (y / s - th)
        l_p = -0.5 + ym1 * dinner / inner - dinner
        l1_p = (0.5 / th - ym1 * dinner / inner**2) / s - 0.5 * l1
        l2_p = (-1.0 / th**2 + 2.0 * ym1 * dinner / inner**3) / s**2 - l2
        return self.logpdf(y, mu, phi, shape), l1, l2, third, (l_p, l1_p, l2_p)

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return mu * phi

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        # Inversion on a common grid of counts: the pmf of every row, cumulated.
        mu, phi = np.broadcast_arrays(np.asarray(mu, float), np.asarray(phi, float))
        top = int(np.ceil(np.max(mu + 12.0 * np.sqrt(mu * phi) + 20.0)))
        grid = np.arange(top + 1, dtype=np.float64)
        out = np.empty(mu.size)
        flat_mu, flat_phi = mu.ravel(), phi.ravel()
        for start in range(0, mu.size, 4096):  # chunks bound the (rows x grid) memory
            m = flat_mu[start : start + 4096, None]
            p = flat_phi[start : start + 4096, None]
            pmf = np.exp(self.logpdf(grid[None, :], m, p, shape))
            cdf = np.cumsum(pmf, axis=1)
            u = rng.random(len(m))[:, None] * cdf[:, -1:]
            out[start : start + 4096] = np.argmax(cdf >= u, axis=1)
        return out.reshape(mu.shape)


class PoissonTMBFamily(CountFamily):
    """Poisson, for the general engine (zero-inflated Poisson); no dispersion."""

    name: ClassVar[str] = "tmb_poisson"
    has_dispersion = False
    has_dispersion_predictor = False

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        return y * np.log(mu) - mu - gammaln(y + 1.0)

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        return self.logpdf(y, mu, phi, shape), y / mu - 1.0, -y / mu**2

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def sigma(self, phi: FloatArray) -> FloatArray:
        return np.ones_like(phi)

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        return rng.poisson(mu).astype(np.float64)


def _sample_truncated(draw, mu: FloatArray, rng: np.random.Generator) -> FloatArray:  # type: ignore[no-untyped-def]
    """Zero-truncated draws by rejection, vectorised over the rows still at zero."""
    out = draw(np.arange(mu.size))
    for _ in range(10_000):
        zero = np.flatnonzero(out == 0)
        if zero.size == 0:
            return out
        out[zero] = draw(zero)
    raise RuntimeError("zero-truncated sampling did not finish (means near zero)")


class TruncatedNBinom2Family(NBinom2Family):
    """Zero-truncated ``nbinom2`` (glmmTMB's ``truncated_nbinom2``): with
    ``ziformula`` the conditional part of a hurdle model."""

    name: ClassVar[str] = "truncated_nbinom2"
    truncated = True
    support = "positive_count"

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        return self.logpdf_derivatives(y, mu, phi, shape)[0]

    def logpdf_higher_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> Higher | None:
        # the untruncated density's, and those of L0 = k log(k / (k + mu)), k = phi:
        # in mu -k / sm, k / sm^2, -2 k / sm^3; in log(k) L0 + k mu / sm,
        # -k mu / sm^2, k (mu - k) / sm^3 (sm = k + mu)
        y, mu, phi = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (y, mu, phi)))
        full = (*_nb2_derivatives(y, mu, phi), *_nb2_higher(y, mu, phi))
        sm = phi + mu
        ism = 1.0 / sm
        L0 = phi * (np.log(phi) - np.log(sm))
        a = phi * ism
        L_m = (-a, a * ism, -2.0 * a * ism * ism)
        L_p = (L0 + a * mu, -a * mu * ism, a * (mu - phi) * ism * ism)
        ll, d1, d2, d3, dphi = truncate_higher(full, L0, L_m, L_p)
        return np.where(y > 0, ll, -np.inf), d1, d2, d3, dphi

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        ll, d1, d2 = _nb2_derivatives(y, mu, phi)
        sm = phi + mu
        L0 = phi * (np.log(phi) - np.log(sm))
        ll, d1, d2 = truncate_derivatives(ll, d1, d2, L0, -phi / sm, phi / sm**2)
        return np.where(y > 0, ll, -np.inf), d1, d2

    def _p0(self, mu: FloatArray, phi: FloatArray) -> FloatArray:
        return np.exp(phi * (np.log(phi) - np.log(phi + mu)))

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return mu / (1.0 - self._p0(mu, phi))

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        p0 = self._p0(mu, phi)
        m2 = (mu + mu**2 / phi + mu**2) / (1.0 - p0)  # E[y^2 | y > 0]
        return m2 - (mu / (1.0 - p0)) ** 2

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        mu, phi = np.broadcast_arrays(np.asarray(mu, float), np.asarray(phi, float))
        return _sample_truncated(
            lambda i: _sample_nb(mu.ravel()[i], phi.ravel()[i], rng), mu.ravel(), rng
        ).reshape(mu.shape)


class TruncatedPoissonFamily(PoissonTMBFamily):
    """Zero-truncated Poisson (glmmTMB's ``truncated_poisson``)."""

    name: ClassVar[str] = "truncated_poisson"
    truncated = True
    support = "positive_count"

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        return self.logpdf_derivatives(y, mu, phi, shape)[0]

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        ll = y * np.log(mu) - mu - gammaln(y + 1.0)
        d1, d2 = y / mu - 1.0, -y / mu**2
        zero = np.zeros_like(mu)
        ll, d1, d2 = truncate_derivatives(ll, d1, d2, -mu, zero - 1.0, zero)
        return np.where(y > 0, ll, -np.inf), d1, d2

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return mu / -np.expm1(-mu)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        p = -np.expm1(-mu)
        return (mu + mu**2) / p - (mu / p) ** 2

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        mu = np.asarray(mu, float)
        flat = mu.ravel()
        return _sample_truncated(
            lambda i: rng.poisson(flat[i]).astype(np.float64), flat, rng
        ).reshape(mu.shape)
