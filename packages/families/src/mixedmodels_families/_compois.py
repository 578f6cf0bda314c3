"""Conway-Maxwell Poisson in glmmTMB's mean parameterisation (``compois``): the density
``lambda^y / (y!)^nu / Z(lambda, nu)`` with ``nu = 1 / phi`` and ``lambda`` solved from
the mean ``mu`` (TMB's ``calc_loglambda``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import gammaln

from mixedmodels.interfaces import FloatArray

from ._base import CountFamily

__all__ = ["CompoisFamily", "cmp_loglambda", "cmp_moments"]

_TAIL = 40.0  # terms below exp(-40) of the largest are left out of the sums
_CHUNK = 4_000_000  # (rows x window) elements per block of the sums


@dataclass
class CMPMoments:
    """``log Z``, mean, variance and third cumulant of a CMP per row."""

    logZ: FloatArray
    mean: FloatArray
    var: FloatArray
    k3: FloatArray


def _window(loglam: FloatArray, nu: FloatArray) -> tuple[FloatArray, int]:
    """Start of a window of counts around each row's mode, and its half width."""
    mode = np.exp(np.minimum(loglam / nu, 700.0))
    sd = np.sqrt(mode / nu) + 1.0
    # the terms fall off about as a normal's: 10 SDs leave out exp(-50) (checked below)
    half = int(np.ceil(np.max(10.0 * sd, initial=0.0) + 10.0))
    return np.maximum(np.floor(mode) - half, 0.0), half


_LOG_FACTORIAL = gammaln(np.arange(1.0, 1025.0))


def _log_factorial(top: int) -> FloatArray:
    """``log(j!)`` for ``j = 0 .. top`` (a table, grown as needed)."""
    global _LOG_FACTORIAL
    if top >= _LOG_FACTORIAL.size:
        _LOG_FACTORIAL = gammaln(np.arange(1.0, 2.0 * top + 2.0))
    return _LOG_FACTORIAL


def _sums(
    loglam: FloatArray, nu: FloatArray, start: FloatArray, width: int
) -> tuple[CMPMoments, np.ndarray]:
    ji = start.astype(np.int64)[:, None] + np.arange(width)[None, :]
    j = ji.astype(np.float64)
    logt = j * loglam[:, None] - nu[:, None] * _log_factorial(int(ji[:, -1].max()))[ji]
    top = np.max(logt, axis=1)
    w = np.exp(logt - top[:, None])
    s = np.sum(w, axis=1)
    p = w / s[:, None]
    mean = np.sum(p * j, axis=1)
    c = j - mean[:, None]
    var = np.sum(p * c * c, axis=1)
    k3 = np.sum(p * c * c * c, axis=1)
    # the windows must reach where the terms are negligible on both sides
    ok = ((start == 0) | (logt[:, 0] - top < -_TAIL)) & (logt[:, -1] - top < -_TAIL)
    return CMPMoments(top + np.log(s), mean, var, k3), ok


def cmp_moments(loglam: FloatArray, nu: FloatArray) -> CMPMoments:
    """Normalising constant and cumulants of CMP(``lambda``, ``nu``), row by row, by
    summing the terms over a window around each mode that is widened until the terms
    it leaves out are below ``exp(-40)`` of the largest (vectorised over rows)."""
    loglam = np.asarray(loglam, dtype=np.float64).ravel()
    nu = np.broadcast_to(np.asarray(nu, dtype=np.float64), loglam.shape).ravel()
    n = loglam.size
    out = [np.empty(n) for _ in range(4)]
    start, half = _window(loglam, nu)
    todo = np.arange(n)
    width = 2 * half + 1
    while todo.size:
        rows = max(1, _CHUNK // width)
        left = []
        for a in range(0, todo.size, rows):  # blocks bound the (rows x window) memory
            idx = todo[a : a + rows]
            m, ok = _sums(loglam[idx], nu[idx], start[idx], width)
            left.append(idx[~ok])
            for arr, val in zip(out, (m.logZ, m.mean, m.var, m.k3), strict=True):
                arr[idx[ok]] = val[ok]
        todo = np.concatenate(left)
        if todo.size:
            if width > 2_000_000:
                raise ValueError("compois: the distribution is too dispersed to normalise")
            start[todo] = np.maximum(start[todo] - width, 0.0)
            width *= 4
    return CMPMoments(*out)


def cmp_loglambda(
    mu: FloatArray, nu: FloatArray, start: FloatArray | None = None
) -> tuple[FloatArray, CMPMoments]:
    """``log lambda`` with mean ``mu`` (Newton's method on ``log E[y]``, vectorised,
    from ``start`` or TMB's ``nu log(mu)``), and the moments there."""
    mu = np.asarray(mu, dtype=np.float64).ravel()
    nu = np.broadcast_to(np.asarray(nu, dtype=np.float64), mu.shape).ravel()
    x = nu * np.log(mu) if start is None else np.asarray(start, dtype=np.float64).ravel()
    for _ in range(200):
        m = cmp_moments(x, nu)
        step = -(np.log(m.mean) - np.log(mu)) * m.mean / m.var
        step = np.clip(step, -5.0, 5.0)
        x = x + step
        if np.all(np.abs(step) <= 1e-13 * np.maximum(1.0, np.abs(x))):
            break
    return x, cmp_moments(x, nu)


class CompoisFamily(CountFamily):
    """Conway-Maxwell Poisson with mean ``mu`` (glmmTMB's ``compois``): ``nu = 1 / phi``,
    ``lambda`` such that ``E[y] = mu``; ``sigma()`` is ``phi``, the variance about
    ``mu phi``.  The normalising constant is summed exactly (glmmTMB's TMB switches to
    a Laplace approximation of it for means over 100)."""

    name: ClassVar[str] = "compois"
    # warm-starts log(lambda) from the last call's rows: no stacked calls
    rows_stackable: ClassVar[bool] = False

    def _state(self, mu: FloatArray, phi: FloatArray) -> tuple[FloatArray, FloatArray, CMPMoments]:
        # the engine asks for the density and its derivatives at the same means in turn
        mu = np.asarray(mu, dtype=np.float64)
        phi = np.broadcast_to(np.asarray(phi, dtype=np.float64), mu.shape)
        key = (hash(mu.tobytes()), hash(np.ascontiguousarray(phi).tobytes()), mu.shape)
        cache: dict[Any, Any] = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            if len(cache) >= 4:
                cache.pop(next(iter(cache)))
            nu = 1.0 / phi
            # warm start from the last solution (the engine moves the means a little):
            # log(lambda) changes by about d(mu) / Var(y)
            last = self.__dict__.get("_last")
            start = None
            if last is not None and last[0].shape == mu.shape:
                lmu, lnu, lx, lvar = last
                if np.all(np.abs(np.log(mu / lmu)) < 0.5) and np.all(nu == lnu):
                    start = lx + (mu - lmu).ravel() / lvar
            x, m = cmp_loglambda(mu, nu, start)
            self.__dict__["_last"] = (mu.copy(), nu.copy(), x, m.var)
            cache[key] = (x.reshape(mu.shape), nu, m)
        return cache[key]  # type: ignore[no-any-return]

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        y, mu = np.broadcast_arrays(np.asarray(y, float), np.asarray(mu, float))
        x, nu, m = self._state(mu, phi)
        return y * x - nu * gammaln(y + 1.0) - m.logZ.reshape(mu.shape)

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        y, mu = np.broadcast_arrays(np.asarray(y, float), np.asarray(mu, float))
        x, nu, m = self._state(mu, phi)
        v, k3 = m.var.reshape(mu.shape), m.k3.reshape(mu.shape)
        # dl/dlog(lambda) = y - mu and dlog(lambda)/dmu = 1 / Var(y)
        d1 = (y - mu) / v
        d2 = -1.0 / v - (y - mu) * k3 / v**3
        return y * x - nu * gammaln(y + 1.0) - m.logZ.reshape(mu.shape), d1, d2

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        mu = np.asarray(mu, dtype=np.float64)
        return self._state(mu, phi)[2].var.reshape(mu.shape)

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        # inversion over each row's window of counts (the window the moments used)
        mu, phi = np.broadcast_arrays(np.asarray(mu, float), np.asarray(phi, float))
        x, nu, _ = self._state(mu, phi)
        flat_x, flat_nu = x.ravel(), np.broadcast_to(nu, mu.shape).ravel()
        out = np.empty(mu.size)
        start, half = _window(flat_x, flat_nu)
        width = 2 * half + 1
        while True:
            j = start[:, None] + np.arange(width, dtype=np.float64)[None, :]
            logt = j * flat_x[:, None] - flat_nu[:, None] * gammaln(j + 1.0)
            top = np.max(logt, axis=1)
            if np.all(logt[:, -1] - top < -_TAIL) or width > 2_000_000:
                break
            width *= 4
        cdf = np.cumsum(np.exp(logt - top[:, None]), axis=1)
        u = rng.random(mu.size)[:, None] * cdf[:, -1:]
        out = start + np.argmax(cdf >= u, axis=1)
        return out.reshape(mu.shape).astype(np.float64)
