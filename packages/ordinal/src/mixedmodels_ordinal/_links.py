"""Cumulative link functions: the distribution F, its density f and f', as ordinal.

``P(Y <= j | eta) = F(theta_j - eta)``; the likelihood needs F, the score f and the
observed information f' (ordinal's ``pfun``, ``dfun``, ``gfun``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special

from mixedmodels.interfaces import FloatArray

__all__ = ["LINKS", "CumulativeLink", "get_link"]

Fn = Callable[[FloatArray], FloatArray]


class CumulativeLink:
    """One latent distribution: ``F``, ``f = F'`` and ``g = f'``, safe at +-inf."""

    def __init__(self, name: str, cdf: Fn, pdf: Fn, dpdf: Fn) -> None:
        self.name = name
        self._cdf, self._pdf, self._dpdf = cdf, pdf, dpdf

    def _masked(
        self, fn: Fn, x: FloatArray, at_inf: Callable[[FloatArray], FloatArray]
    ) -> FloatArray:
        finite = np.isfinite(x)
        if finite.all():
            return fn(x)
        out = np.asarray(at_inf(x), dtype=np.float64).copy()
        out[finite] = fn(x[finite])
        return out

    def cdf(self, x: FloatArray) -> FloatArray:
        return self._masked(self._cdf, x, lambda z: (z > 0).astype(np.float64))

    def pdf(self, x: FloatArray) -> FloatArray:
        return self._masked(self._pdf, x, np.zeros_like)

    def dpdf(self, x: FloatArray) -> FloatArray:
        return self._masked(self._dpdf, x, np.zeros_like)

    def all_finite(self, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``F``, ``f`` and ``f'`` at finite ``x`` (one pass of the expensive part for
        the logistic)."""
        if self.name == "logit":
            p = special.expit(x)
            f = p * (1.0 - p)
            return p, f, f * (1.0 - 2.0 * p)
        return self._cdf(x), self._pdf(x), self._dpdf(x)

    def __repr__(self) -> str:
        return f"CumulativeLink({self.name!r})"


def _logit_pdf(x: FloatArray) -> FloatArray:
    p = special.expit(x)
    return p * (1.0 - p)


def _logit_dpdf(x: FloatArray) -> FloatArray:
    p = special.expit(x)
    return p * (1.0 - p) * (1.0 - 2.0 * p)


def _probit_pdf(x: FloatArray) -> FloatArray:
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def _cloglog_pdf(x: FloatArray) -> FloatArray:
    return np.exp(x - np.exp(x))


def _loglog_pdf(x: FloatArray) -> FloatArray:
    return np.exp(-x - np.exp(-x))


LINKS: dict[str, CumulativeLink] = {
    "logit": CumulativeLink("logit", special.expit, _logit_pdf, _logit_dpdf),
    "probit": CumulativeLink("probit", special.ndtr, _probit_pdf, lambda x: -x * _probit_pdf(x)),
    # Gumbel (minimum): F(x) = 1 - exp(-exp(x)).
    "cloglog": CumulativeLink(
        "cloglog",
        lambda x: -np.expm1(-np.exp(x)),
        _cloglog_pdf,
        lambda x: _cloglog_pdf(x) * (1.0 - np.exp(x)),
    ),
    # Gumbel (maximum): F(x) = exp(-exp(-x)).
    "loglog": CumulativeLink(
        "loglog",
        lambda x: np.exp(-np.exp(-x)),
        _loglog_pdf,
        lambda x: _loglog_pdf(x) * (np.exp(-x) - 1.0),
    ),
    "cauchit": CumulativeLink(
        "cauchit",
        lambda x: 0.5 + np.arctan(x) / np.pi,
        lambda x: 1.0 / (np.pi * (1.0 + x * x)),
        lambda x: -2.0 * x / (np.pi * (1.0 + x * x) ** 2),
    ),
}


def get_link(name: str) -> CumulativeLink:
    """The cumulative link called ``name`` (logit, probit, cloglog, loglog, cauchit)."""
    try:
        return LINKS[name]
    except KeyError:
        raise ValueError(f"unknown link {name!r}; choose one of {sorted(LINKS)}") from None


def _ddpdf(name: str, x: FloatArray) -> FloatArray:
    """``f''`` at finite ``x`` (for the exact gradient of the Laplace criterion)."""
    if name == "logit":
        p = special.expit(x)
        f = p * (1.0 - p)
        return f * (1.0 - 2.0 * p) ** 2 - 2.0 * f * f
    if name == "probit":
        return (x * x - 1.0) * _probit_pdf(x)
    if name == "cloglog":
        e = np.exp(x)
        return _cloglog_pdf(x) * ((1.0 - e) ** 2 - e)
    if name == "loglog":
        e = np.exp(-x)
        return _loglog_pdf(x) * ((e - 1.0) ** 2 - e)
    return (6.0 * x * x - 2.0) / (np.pi * (1.0 + x * x) ** 3)  # cauchit


def ddpdf(link: CumulativeLink, x: FloatArray) -> FloatArray:
    """``f''`` of ``link`` at finite ``x``."""
    return _ddpdf(link.name, x)
