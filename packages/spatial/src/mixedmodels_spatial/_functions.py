"""Isotropic correlation functions ``rho(h)`` of the scaled distance ``h = d / range``.

The parameterisations are nlme's (``corExp``, ``corGaus``, ``corSpher``, ``corRatio``,
``corLin``: ``range`` scales the distance) and, for the Matérn, glmmTMB's / fields'
(``2^(1-nu) / Gamma(nu) h^nu K_nu(h)``, ``h = d / range``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

FloatArray = NDArray[np.float64]

__all__ = ["FAMILIES", "CorrelationFamily", "family", "matern"]


# The private functions may overwrite ``h``: SpatialKernel.rho passes a fresh array
# (in place saves two passes over (m + 1)^2 n numbers in the Vecchia likelihood).
def _exponential(h: FloatArray, nu: float) -> FloatArray:
    np.negative(h, out=h)
    return np.exp(h, out=h)


def _gaussian(h: FloatArray, nu: float) -> FloatArray:
    np.square(h, out=h)
    np.negative(h, out=h)
    return np.exp(h, out=h)


def _spherical(h: FloatArray, nu: float) -> FloatArray:
    hc = np.minimum(h, 1.0)
    return 1.0 - 1.5 * hc + 0.5 * hc**3


def _ratio(h: FloatArray, nu: float) -> FloatArray:
    return 1.0 / (1.0 + h * h)


def _linear(h: FloatArray, nu: float) -> FloatArray:
    return np.maximum(1.0 - h, 0.0)


def matern(h: FloatArray, nu: float) -> FloatArray:
    """Matérn correlation ``2^(1-nu)/Gamma(nu) h^nu K_nu(h)`` (closed forms at
    ``nu`` = 0.5, 1.5, 2.5; ``scipy.special.kv`` otherwise)."""
    h = np.asarray(h, dtype=np.float64)
    if nu == 0.5:
        return np.exp(-h)
    if nu == 1.5:
        return (1.0 + h) * np.exp(-h)
    if nu == 2.5:
        return (1.0 + h + h * h / 3.0) * np.exp(-h)
    out = np.ones_like(h)
    pos = h > 0
    hp = h[pos]
    # log scale: h^nu K_nu(h) under- and overflows separately for large nu or h.
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        logv = (
            (1.0 - nu) * np.log(2.0)
            - special.gammaln(nu)
            + nu * np.log(hp)
            + np.log(special.kve(nu, hp))
            - hp
        )
    out[pos] = np.exp(np.minimum(logv, 0.0))
    return out


# h rho'(h) given h and rho(h), for the analytic gradient of the nearest-neighbour
# likelihood (from rho where that saves an exponential).
def _exponential_d(h: FloatArray, nu: float, rho: FloatArray) -> FloatArray:
    return -h * rho


def _gaussian_d(h: FloatArray, nu: float, rho: FloatArray) -> FloatArray:
    return -2.0 * h * h * rho


def _spherical_d(h: FloatArray, nu: float, rho: FloatArray) -> FloatArray:
    return np.where(h < 1.0, h * (-1.5 + 1.5 * h * h), 0.0)


def _ratio_d(h: FloatArray, nu: float, rho: FloatArray) -> FloatArray:
    return -2.0 * h * h * rho * rho


def _linear_d(h: FloatArray, nu: float, rho: FloatArray) -> FloatArray:
    return np.where(h < 1.0, -h, 0.0)


def _matern_d(h: FloatArray, nu: float, rho: FloatArray) -> FloatArray:
    h = np.asarray(h, dtype=np.float64)
    if nu == 0.5:
        return -h * rho
    if nu == 1.5:
        return -h * h * rho / (1.0 + h)
    if nu == 2.5:
        return -h * h * (1.0 + h) / 3.0 * rho / (1.0 + h + h * h / 3.0)
    # d/dh [h^nu K_nu(h)] = -h^nu K_{nu-1}(h).
    out = np.zeros_like(h)
    pos = h > 0
    hp = h[pos]
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        ratio = special.kve(nu - 1.0, hp) / special.kve(nu, hp)
        out[pos] = np.nan_to_num(-hp * rho[pos] * ratio)
    return out


@dataclass(frozen=True)
class CorrelationFamily:
    """One isotropic correlation function.

    ``rho(h, nu)``; ``hdrho(h, nu, rho(h))``: ``h rho'(h)``; ``smoothness``: whether
    the family has a smoothness ``nu``;
    ``compact``: zero beyond ``h = 1``; ``pd_dims``: the largest dimension in which it
    is positive definite (``None``: every dimension).
    """

    name: str
    label: str
    nlme: str
    rho: Callable[[FloatArray, float], FloatArray]
    hdrho: Callable[[FloatArray, float, FloatArray], FloatArray]
    smoothness: bool = False
    compact: bool = False
    pd_dims: int | None = None


FAMILIES: dict[str, CorrelationFamily] = {
    f.name: f
    for f in (
        CorrelationFamily("exponential", "exponential", "corExp", _exponential, _exponential_d),
        CorrelationFamily("gaussian", "Gaussian", "corGaus", _gaussian, _gaussian_d),
        CorrelationFamily(
            "spherical", "spherical", "corSpher", _spherical, _spherical_d, compact=True, pd_dims=3
        ),
        CorrelationFamily("ratio", "rational quadratic", "corRatio", _ratio, _ratio_d),
        CorrelationFamily(
            "linear", "linear", "corLin", _linear, _linear_d, compact=True, pd_dims=1
        ),
        CorrelationFamily("matern", "Matérn", "", matern, _matern_d, smoothness=True),
    )
}


def family(name: str) -> CorrelationFamily:
    """The correlation family called ``name`` (a clear error listing the others)."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown spatial correlation {name!r}; choose one of {sorted(FAMILIES)}"
        ) from None
