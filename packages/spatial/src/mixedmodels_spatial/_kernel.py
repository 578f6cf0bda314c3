"""A spatial correlation model with its parameters: a correlation family, an optional
smoothness (estimated or fixed), an optional nugget, a distance metric and an optional
geometric anisotropy.

Internal (unconstrained) parameters, in this order: ``log(range)``; ``log(nu)`` when the
Matérn smoothness is estimated (glmmTMB's ``theta``); ``logit(nugget)`` with a nugget
(nlme's unconstrained ``corStruct`` coefficients); with anisotropy, ``angle`` through
``pi * logistic`` and ``log(ratio)``.  The correlation of two distinct observations at
distance ``d`` is ``(1 - nugget) rho(d / range)``; of an observation with itself, 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ._distance import (
    EARTH_RADIUS_KM,
    anisotropy_derivatives,
    anisotropy_matrix,
    check_coordinates,
    distances,
    metric_name,
    stacked_distances,
)
from ._functions import CorrelationFamily, family

FloatArray = NDArray[np.float64]

__all__ = ["SpatialKernel", "make_kernel"]


def _logistic(x: float) -> float:
    return float(0.5 * (1.0 + np.tanh(0.5 * x)))


@dataclass
class SpatialKernel:
    """A spatial correlation model (see the module docstring for its parameters)."""

    family: CorrelationFamily
    nugget: bool = False
    nu: float | None = None  # fixed smoothness; None with a Matérn: estimated
    metric: str = "euclidean"
    anisotropy: bool = False
    radius: float = EARTH_RADIUS_KM
    range_start: float = 1.0
    _names: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        names = ["log(range)"]
        if self.estimates_nu:
            names.append("log(nu)")
        if self.nugget:
            names.append("logit(nugget)")
        if self.anisotropy:
            names += ["aniso.angle", "log(aniso.ratio)"]
        self._names = names

    # --- parameters ------------------------------------------------------------------
    @property
    def estimates_nu(self) -> bool:
        return self.family.smoothness and self.nu is None

    @property
    def n_params(self) -> int:
        return len(self._names)

    def param_names(self) -> list[str]:
        return list(self._names)

    def start(self) -> FloatArray:
        out = [np.log(self.range_start)]
        if self.estimates_nu:
            out.append(0.0)  # nu = 1
        if self.nugget:
            out.append(np.log(0.1 / 0.9))  # nlme's default nugget 0.1
        if self.anisotropy:
            out += [0.0, 0.0]
        return np.asarray(out, dtype=np.float64)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        lo = np.full(self.n_params, -np.inf)
        hi = np.full(self.n_params, np.inf)
        if self.estimates_nu:
            # K_nu is numerically unusable beyond these.
            lo[1], hi[1] = np.log(0.05), np.log(50.0)
        return lo, hi

    def unpack(self, params: FloatArray) -> dict[str, float]:
        """Natural values: ``range``, ``nu``, ``nugget``, ``angle``, ``ratio``."""
        p = np.asarray(params, dtype=np.float64)
        i = 0
        out = {"range": float(np.exp(p[i]))}
        i += 1
        if self.estimates_nu:
            out["nu"] = float(np.exp(p[i]))
            i += 1
        else:
            out["nu"] = float(self.nu) if self.nu is not None else 0.5
        if self.nugget:
            out["nugget"] = _logistic(p[i])
            i += 1
        else:
            out["nugget"] = 0.0
        if self.anisotropy:
            out["angle"] = float(np.pi * _logistic(p[i]))
            out["ratio"] = float(np.exp(p[i + 1]))
        return out

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        """As nlme reports them: ``range`` (then ``smoothness``), ``nugget``."""
        v = self.unpack(params)
        out = [("range", v["range"])]
        if self.estimates_nu:
            out.append(("smoothness", v["nu"]))
        if self.nugget:
            out.append(("nugget", v["nugget"]))
        if self.anisotropy:
            out += [("aniso.angle", v["angle"]), ("aniso.ratio", v["ratio"])]
        return out

    # --- correlations ----------------------------------------------------------------
    def aniso(self, v: dict[str, float]) -> FloatArray | None:
        return anisotropy_matrix(v["angle"], v["ratio"]) if self.anisotropy else None

    def distance(self, a: FloatArray, b: FloatArray, params: FloatArray) -> FloatArray:
        return distances(a, b, self.metric, self.radius, self.aniso(self.unpack(params)))

    def rho(self, d: FloatArray, v: dict[str, float]) -> FloatArray:
        """The correlation function at distances ``d`` (no nugget)."""
        h = np.asarray(d, dtype=np.float64) * (1.0 / v["range"])  # a fresh array
        return self.family.rho(h, v["nu"])

    def correlation_derivatives(
        self,
        d: FloatArray,
        v: dict[str, float],
        corr: FloatArray,
        diffs: list[FloatArray] | None = None,
    ) -> list[FloatArray]:
        """Derivatives of the correlation of distinct observations, ``corr = (1 -
        nugget) rho(d / range)`` at distances ``d``, with respect to each internal
        parameter: analytic in ``log(range)``, ``logit(nugget)`` and, with an
        anisotropy, its angle and ratio (``diffs``: the coordinate differences behind
        ``d``, ``d^2 = diff' A diff``; ``d rho / d psi = h rho'(h) diff' dA diff /
        (2 d^2)``); central differences of ``rho`` in ``log(nu)``."""
        if self.anisotropy and diffs is None:
            raise NotImplementedError("the anisotropy's derivatives need the differences")
        h = np.asarray(d, dtype=np.float64) * (1.0 / v["range"])
        g, nu = v["nugget"], v["nu"]
        rho = corr * (1.0 / (1.0 - g)) if g else corr
        hd = self.family.hdrho(h, nu, rho)
        out = [-(1.0 - g) * hd]
        if self.estimates_nu:
            step = 1e-5
            up = self.family.rho(h.copy(), nu * np.exp(step))
            down = self.family.rho(h.copy(), nu * np.exp(-step))
            out.append((1.0 - g) * (up - down) / (2.0 * step))
        if self.nugget:
            out.append(-g * corr)
        if self.anisotropy and diffs is not None:
            d_angle, d_log_ratio = anisotropy_derivatives(v["angle"], v["ratio"])
            # angle = pi * logistic(p): d angle / dp = angle (1 - angle / pi).
            chain = (v["angle"] * (1.0 - v["angle"] / np.pi), 1.0)
            dsq = np.asarray(d, dtype=np.float64) ** 2
            with np.errstate(divide="ignore", invalid="ignore"):
                base = np.where(dsq > 0, (1.0 - g) * hd / (2.0 * dsq), 0.0)
            for dA, ch in zip((d_angle, d_log_ratio), chain, strict=True):
                quad = sum(
                    dA[i, j] * diffs[i] * diffs[j]
                    for i in range(len(diffs))
                    for j in range(len(diffs))
                )
                out.append(ch * base * quad)
        return out

    def cross(self, params: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
        """Correlations between observations at ``a`` and distinct observations at
        ``b`` (``(..., n, m)``, the nugget's factor included)."""
        v = self.unpack(params)
        d = distances(a, b, self.metric, self.radius, self.aniso(v))
        return (1.0 - v["nugget"]) * self.rho(d, v)

    def from_distances(self, params: FloatArray, d: FloatArray) -> FloatArray:
        """Correlation matrices ``(..., k, k)`` of observations with distances ``d``."""
        v = self.unpack(params)
        C = (1.0 - v["nugget"]) * self.rho(d, v)
        k = d.shape[-1]
        idx = np.arange(k)
        C[..., idx, idx] = 1.0
        return C

    def stacked_correlations(self, params: FloatArray, pts: FloatArray) -> FloatArray:
        """Correlations within each of ``n`` sets ``pts (n, k, d)`` of distinct
        observations, layout ``(k, k, n)``; the diagonal is left to the caller."""
        v = self.unpack(params)
        d = stacked_distances(pts, self.metric, self.radius, self.aniso(v))
        C = self.rho(d, v)
        if v["nugget"]:
            C *= 1.0 - v["nugget"]
        return C

    def matrix(self, params: FloatArray, coords: FloatArray) -> FloatArray:
        """Correlation matrices ``(..., k, k)`` of observations at ``coords (..., k, d)``."""
        return self.from_distances(params, self.distance(coords, coords, params))

    def check(self, coords: FloatArray, names: Sequence[str]) -> None:
        check_coordinates(coords, names, self.metric)
        if self.anisotropy and (self.metric != "euclidean" or coords.shape[1] != 2):
            raise ValueError("geometric anisotropy needs two Euclidean coordinates")
        if self.family.pd_dims is not None and coords.shape[1] > self.family.pd_dims:
            raise ValueError(
                f"the {self.family.label} correlation is positive definite in at most "
                f"{self.family.pd_dims} dimension(s); got {coords.shape[1]} coordinates "
                f"{list(names)}"
            )


def _typical_range(coords: FloatArray, metric: str, radius: float) -> float:
    """A quarter of the median distance between (at most 500) locations."""
    pts = np.unique(coords, axis=0)
    if pts.shape[0] > 500:
        pts = pts[np.random.default_rng(0).choice(pts.shape[0], 500, replace=False)]
    d = distances(pts, pts, metric, radius)
    d = d[np.triu_indices(pts.shape[0], 1)]
    d = d[d > 0]
    return float(np.median(d) / 4.0) if d.size else 1.0


def make_kernel(
    name: str,
    coords: FloatArray | None = None,
    *,
    nugget: bool = False,
    nu: float | None = None,
    metric: str = "euclidean",
    anisotropy: bool = False,
    radius: float = EARTH_RADIUS_KM,
    range_start: float | None = None,
) -> SpatialKernel:
    """A :class:`SpatialKernel` for the family ``name``, its range started at a quarter
    of the median distance between ``coords`` (or at ``range_start``)."""
    fam = family(name)
    if nu is not None:
        if not fam.smoothness:
            raise ValueError(f"the {fam.label} correlation has no smoothness 'nu'")
        nu = float(nu)
        if not nu > 0:
            raise ValueError(f"the Matérn smoothness nu must be positive, got {nu}")
    metric = metric_name(metric)
    if range_start is None:
        range_start = _typical_range(coords, metric, radius) if coords is not None else 1.0
    if not (np.isfinite(range_start) and range_start > 0):
        raise ValueError(f"range_start must be positive, got {range_start}")
    return SpatialKernel(
        fam,
        nugget=bool(nugget),
        nu=nu,
        metric=metric,
        anisotropy=bool(anisotropy),
        radius=float(radius),
        range_start=float(range_start),
    )
